#!/usr/bin/env bash
# CI job: line coverage of codegen/ and runtime/ (gcc --coverage, build-cov/)
# over the default test set: every test but labels `full` and `cuda_mma` (the
# 16-bit CUDA compiles) and the llvm backend's sweeps at 8 and 4 lanes (as in
# the asan job), which run no host code that the rest does not (their time is
# clang's: about 0.55 s a kernel); the backend sweep at ATTNGEN_SWEEP=smoke,
# since -O0 makes the float64 reference slow. Prints the
# figures last; the report is build-cov/coverage/index.html (per file and line)
# and build-cov/coverage.txt.
#   scripts/job-coverage.sh [ctest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh ci
scripts/build-variant.sh cov
find build-cov -name '*.gcda' -delete
(cd build-cov && ATTNGEN_SWEEP=smoke nice -n 10 ctest --output-on-failure -j"$(nproc)" -LE 'full|cuda_mma' \
  -E '^(avx2|llvm_sse)\..*llvm' "$@")
mkdir -p build-cov/coverage
# Tests run kernels on many threads and gcov's counters are plain increments,
# so a racing branch count can come out negative: gcovr skips what it cannot
# parse (line counts are unaffected), in one process (gcovr 5.2 hangs with -j
# on a parse error). -fprofile-update=atomic would be exact but makes the
# sweep ten times slower.
nice -n 10 gcovr --root . --object-directory build-cov --filter 'codegen/' --filter 'runtime/' \
  --exclude-unreachable-branches --gcov-ignore-parse-errors --txt build-cov/coverage.txt \
  --json-summary build-cov/coverage.json --html-details build-cov/coverage/index.html >/dev/null
python3 - <<'PY' | tee build-cov/coverage-summary.txt
import json
files = json.load(open("build-cov/coverage.json"))["files"]
def line(name, prefix, without=None):
    fs = [f for f in files if f["filename"].startswith(prefix) and not (without and f["filename"].startswith(without))]
    cov = sum(f["line_covered"] for f in fs)
    tot = sum(f["line_total"] for f in fs)
    print(f"coverage: {name:<22} {100.0 * cov / max(tot, 1):5.1f}% of lines ({cov} of {tot}, {len(fs)} files)")
line("codegen/", "codegen/")
line("runtime/", "runtime/")
line("codegen/ + runtime/", "")
# The CUDA driver side (loading, launching, device buffers) runs only where a
# GPU is: its share is shown apart, so that the figure above can be read.
line("runtime/cuda/", "runtime/cuda/")
line("runtime/ without cuda/", "runtime/", "runtime/cuda/")
PY
