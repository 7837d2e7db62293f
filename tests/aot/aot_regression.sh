#!/usr/bin/env bash
# One regression spec compiled ahead of time for aarch64, linked with a test
# driver by Debian's cross compiler and run under qemu on problems the host
# wrote (`attngen verify --backend reference --save`), compared with the
# float64 reference at the dtype's tolerance (tests/aot/spec_driver.c).
# Two kernels per spec: the spec as written, and a variant in bf16 (or f16,
# by INDEX's parity), bshd, GQA 4:2, D 96 / Dv 64; each on odd shapes with
# Sq != Skv, decode (Sq 1) and Sq > Skv. A negative control (one input
# swapped for another seed's) must fail.
#   aot_regression.sh ATTNGEN SRC WORK SPEC INDEX
set -euo pipefail
attngen=$(realpath "$1") src=$(realpath "$2") work=$3 spec=$(realpath "$4") index=$5
for tool in aarch64-linux-gnu-gcc qemu-aarch64-static python3; do
  command -v $tool >/dev/null || { echo "$tool is missing: scripts/setup.sh installs it" >&2; exit 1; }
done
rm -rf "$work" && mkdir -p "$work" && cd "$work"
run="qemu-aarch64-static -L /usr/aarch64-linux-gnu"
dtype=$([ $((index % 2)) = 0 ] && echo bf16 || echo f16)
python3 - "$spec" "$dtype" <<'EOF'
import json, sys
spec = json.load(open(sys.argv[1]))
json.dump(spec, open("as_written.json", "w"))
spec.update(dtype=sys.argv[2], layout="bshd", num_heads=4, num_kv_heads=2, head_dim=96, head_dim_v=64)
json.dump(spec, open("variant.json", "w"))
EOF

check() {  # check KERNEL_DIR SPEC_FILE B SQ SKV SEED
  local dir=$1/b$3_q$4_kv$5
  "$attngen" verify "$2" --backend reference --batch "$3" --q-len "$4" --kv-len "$5" --seed "$6" --save "$dir" >/dev/null
  $run "$1/driver" "$dir"
}

for kernel in as_written variant; do
  mkdir -p $kernel
  "$attngen" compile $kernel.json --backend llvm --target aarch64-linux-gnu --prefix k_ --emit $kernel/k.o \
    --header $kernel/kernel.h >/dev/null
  aarch64-linux-gnu-gcc -O2 -Wall -Wextra -Werror -I$kernel "$src/tests/aot/spec_driver.c" $kernel/k.o -lm \
    -o $kernel/driver
  check $kernel $kernel.json 2 17 45 1
  check $kernel $kernel.json 1 1 129 2
  check $kernel $kernel.json 3 33 3 3
done

# Negative control: the driver must see a wrong result (keys of another seed).
"$attngen" verify as_written.json --backend reference --batch 2 --q-len 17 --kv-len 45 --seed 9 --save other >/dev/null
cp other/k.npy as_written/b2_q17_kv45/k.npy
if $run as_written/driver as_written/b2_q17_kv45 >/dev/null; then
  echo "negative control: the driver accepted a result computed from other keys" >&2
  exit 1
fi
echo "aot regression ($(basename "$spec"), aarch64 under qemu): PASS"
