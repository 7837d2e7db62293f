#!/usr/bin/env bash
# Configures and builds one of the checking builds of the CI jobs (docs/testing.md):
#   scripts/build-variant.sh asan [target...]   build-asan/: clang 14, ASan + UBSan, libFuzzer
#                                               targets, source-based coverage counters
#   scripts/build-variant.sh tsan [target...]   build-tsan/: clang 14, TSan
# Without targets, everything (but the benchmarks) is built.
set -euo pipefail
cd "$(dirname "$0")/.."
variant=${1:?usage: scripts/build-variant.sh asan|tsan [target...]}
shift
clang=(-DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo
       "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only")
case "$variant" in
  # The coverage counters spare CI a third build and run of the tests
  # (docs/testing.md, Coverage).
  asan) flags=("${clang[@]}" -DATTNGEN_SANITIZE=address,undefined -DATTNGEN_FUZZ=ON -DATTNGEN_COVERAGE=ON) ;;
  # TSan without LLVM: its libraries are not instrumented (false reports), and
  # the build then checks the llvm backend's stub (Api.LlvmBackendCompilesOrSaysWhatToInstall).
  tsan) flags=("${clang[@]}" -DATTNGEN_SANITIZE=thread -DATTNGEN_WITH_LLVM=OFF) ;;
  *) echo "build-variant: unknown variant '$variant' (asan or tsan)" >&2; exit 2 ;;
esac
cmake -S . -B "build-$variant" "${flags[@]}" -DATTNGEN_BUILD_BENCH=OFF >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
nice -n 10 cmake --build "build-$variant" -j"$(nproc)" "${targets[@]}"
