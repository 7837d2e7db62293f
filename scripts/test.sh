#!/usr/bin/env bash
# Installs, builds and runs the whole test suite (what CI runs, docs/testing.md):
# the checking jobs (ASan + UBSan with coverage, TSan, fuzzing), the Python
# package's pytest suite (scripts/python-env.sh installs it into build/py-venv),
# then the default test set of the Release build in build/, whose summary ends
# the log (the coverage figures are printed just before it).
#   scripts/test.sh [ctest args...]     the ctest args go to the Release run
#   ATTNGEN_JOBS="asan tsan fuzz" (the default) picks the checking
#   jobs; ATTNGEN_JOBS= runs the Python suite and the Release build's tests alone.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${ATTNGEN_JOBS-asan tsan fuzz}
if [ -n "$jobs" ]; then scripts/setup.sh ci; else scripts/setup.sh; fi
scripts/build.sh
rm -f build-asan/coverage-summary.txt
for job in $jobs; do
  echo "=== job $job: scripts/job-$job.sh"
  start=$SECONDS
  scripts/job-"$job".sh
  echo "=== job $job: passed in $((SECONDS - start)) s"
done
echo "=== job python: scripts/python-env.sh, then pytest python/tests"
start=$SECONDS
scripts/python-env.sh
build/py-venv/bin/python -m pytest -q -p no:cacheprovider python/tests
echo "=== job python: passed in $((SECONDS - start)) s"
echo "=== job main: the default test set of build/ (Release)"
cd build
# The coverage figures go right before ctest's summary, which ends the log.
ctest --output-on-failure -j"$(nproc)" -LE full "$@" |
  awk '/% tests passed, / && !done { if ((getline l < "../build-asan/coverage-summary.txt") > 0) { do print l; while ((getline l < "../build-asan/coverage-summary.txt") > 0); print "" } done = 1 } { print; fflush() }'
