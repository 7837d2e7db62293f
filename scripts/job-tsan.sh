#!/usr/bin/env bash
# CI job: the kernel cache and public API tests (ctest labels `cache` and `api`:
# concurrent compiles and single flight, runs from many threads, a disk cache
# shared by processes, W^X while threads compile) built with ThreadSanitizer
# (clang 14, build-tsan/), every report fatal.
#   scripts/job-tsan.sh [ctest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh ci
scripts/build-variant.sh tsan attngen_cache_tests attngen_api_tests attngen_wx_tests
source scripts/sanitizer-env.sh
cd build-tsan
nice -n 10 ctest --output-on-failure -j"$(nproc)" -L 'cache|api' "$@"
