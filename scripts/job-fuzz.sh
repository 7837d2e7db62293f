#!/usr/bin/env bash
# CI job: each libFuzzer target of tests/fuzz/ for ATTNGEN_FUZZ_SECONDS (default
# 60) seconds, two at a time, under ASan + UBSan with a memory limit; seeded
# with tests/fuzz/<target>/ (new inputs go to build-asan/fuzz/<target>/corpus,
# never into the source tree). A crash fails the job and names the input to
# keep as a regression: copy it to tests/fuzz/<target>/ and fix the bug; the
# ctest test fuzz_replay_<target> replays it in every build from then on.
# ATTNGEN_FUZZ_SEED (default 1) fixes libFuzzer's random seed, so that a CI run
# repeats the last one's inputs (and more on a faster machine) rather than
# failing a landing at random; ATTNGEN_FUZZ_SEED=0 draws a new seed to explore.
#   scripts/job-fuzz.sh [target...]     targets: spec npy cache_entry api_args merge_states
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${ATTNGEN_FUZZ_SECONDS:-60}
targets=("$@")
((${#targets[@]})) || targets=(spec npy cache_entry api_args merge_states)
scripts/setup.sh ci
scripts/build-variant.sh asan "${targets[@]/#/attngen_fuzz_}"
source scripts/sanitizer-env.sh
export ATTNGEN_CACHE_DIR=$PWD/build-asan/fuzz/cache
fuzz_one() {
  local t=$1 dir=build-asan/fuzz/$1
  rm -rf "$dir/artifacts" && mkdir -p "$dir/corpus" "$dir/artifacts"
  # -rss_limit_mb: the memory limit (also the largest single allocation);
  # -timeout: an input running longer is a hang, reported as a crash.
  nice -n 10 build-asan/bin/attngen_fuzz_"$t" -max_total_time="$seconds" -seed="${ATTNGEN_FUZZ_SEED:-1}" \
    -rss_limit_mb=2048 -timeout=30 \
    -print_final_stats=1 -artifact_prefix="$dir/artifacts/" "$dir/corpus" "tests/fuzz/$t" >"$dir/log" 2>&1
}
pids=() names=() failed=()
for t in "${targets[@]}"; do
  fuzz_one "$t" & pids+=($!) names+=("$t")
  if ((${#pids[@]} == $(nproc))); then
    wait "${pids[0]}" || failed+=("${names[0]}")
    pids=("${pids[@]:1}") names=("${names[@]:1}")
  fi
done
for i in "${!pids[@]}"; do wait "${pids[$i]}" || failed+=("${names[$i]}"); done
for t in "${targets[@]}"; do
  log=build-asan/fuzz/$t/log
  echo "fuzz $t: $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') runs in ${seconds} s," \
       "corpus $(ls "build-asan/fuzz/$t/corpus" | wc -l) new + $(ls "tests/fuzz/$t" | wc -l) kept inputs," \
       "cov $(grep -oE 'cov: [0-9]+' "$log" | tail -1 | awk '{print $2}')"
done
for t in "${failed[@]}"; do
  echo "fuzz $t: FAILED; the end of its log (build-asan/fuzz/$t/log):"
  tail -n 60 "build-asan/fuzz/$t/log"
  for a in build-asan/fuzz/"$t"/artifacts/*; do
    [ -e "$a" ] && echo "  keep it as a regression input: cp $a tests/fuzz/$t/$(basename "$a")"
  done
done
((${#failed[@]} == 0))
