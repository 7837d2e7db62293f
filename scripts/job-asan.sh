#!/usr/bin/env bash
# CI job: the test suite built with AddressSanitizer + UndefinedBehaviorSanitizer
# (clang 14, build-asan/), every report fatal.
#   scripts/job-asan.sh [ctest args...]      e.g. scripts/job-asan.sh -R Api
# Runs every test but the `full` sweep (slow everywhere; label full), the
# 16-bit CUDA compiles (label cuda_mma: NVRTC's work, no other host code), the
# CUDA kernels on the block emulator (label cuda_emulated: its fibers switch
# stacks behind the sanitizers' back; the host code they drive is the fake
# driver tests') and
# `install` (a consumer project built without sanitizers cannot link an
# instrumented libattngen; the main job runs it), with the backend sweep
# reduced to ATTNGEN_SWEEP=smoke. The llvm backend's code comes from clang
# without sanitizers, so ASan sees only the host side of its calls: its sweep
# runs once (16 lanes), not again at 8 and 4 lanes nor under guard pages
# (the main job runs those). The build counts coverage as well: the job ends
# with scripts/coverage-report.sh, whose figures close its log.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh ci
scripts/build-variant.sh asan
source scripts/sanitizer-env.sh
rm -rf build-asan/profiles
(cd build-asan && ATTNGEN_SWEEP=smoke nice -n 10 ctest --output-on-failure -j"$(nproc)" -LE 'full|install|cuda_mma|cuda_emulated' \
  -E '^(avx2|llvm_sse)\..*llvm|GuardPages.*llvm' "$@")
scripts/coverage-report.sh
