#!/usr/bin/env bash
# examples/aot end to end, as docs/aot.md tells a user: compile the spec to an
# object and header, build the example with a C compiler and no attngen
# library, run it, and compare its output with attngen's own run.
#   aot_example.sh ATTNGEN SRC WORK host      the host object: bit for bit equal to the JIT kernel
#   aot_example.sh ATTNGEN SRC WORK aarch64   an aarch64 object under qemu: the reference's tolerance
set -euo pipefail
attngen=$1 src=$2 work=$3 target=$4
spec=$src/examples/aot/spec.json
rm -rf "$work" && mkdir -p "$work" && cd "$work"
case "$target" in
  host)
    "$attngen" compile "$spec" --backend llvm --prefix attn_ --emit attn.o --header attn.h
    cc -O2 -Wall -Wextra -Werror -I. "$src/examples/aot/main.c" attn.o -lm -o aot_example
    if nm -u attn.o | grep -v -E ' U (logf|memset|memcpy)$'; then echo "the object needs more than libc and libm" >&2; exit 1; fi
    ./aot_example .
    "$attngen" run "$spec" --q q.npy --k k.npy --v v.npy --kv-lens kv_lens.npy --out o_jit.npy --lse lse_jit.npy \
      --backend llvm
    ./aot_example --compare o_aot.npy o_jit.npy 0
    ./aot_example --compare lse_aot.npy lse_jit.npy 0
    ;;
  aarch64)
    for tool in aarch64-linux-gnu-gcc qemu-aarch64-static; do
      command -v $tool >/dev/null || { echo "$tool is missing: scripts/setup.sh installs it" >&2; exit 1; }
    done
    "$attngen" compile "$spec" --backend llvm --target aarch64-linux-gnu --prefix attn_ --emit attn.o --header attn.h
    aarch64-linux-gnu-gcc -O2 -Wall -Wextra -Werror -I. "$src/examples/aot/main.c" attn.o -lm -o aot_example
    run="qemu-aarch64-static -L /usr/aarch64-linux-gnu"
    $run ./aot_example .
    "$attngen" run "$spec" --q q.npy --k k.npy --v v.npy --kv-lens kv_lens.npy --out o_ref.npy --lse lse_ref.npy \
      --backend reference
    $run ./aot_example --compare o_aot.npy o_ref.npy 2e-5
    $run ./aot_example --compare lse_aot.npy lse_ref.npy 2e-5
    ;;
  *) echo "target: expected host or aarch64, got $target" >&2; exit 2 ;;
esac
echo "aot example ($target): PASS"
