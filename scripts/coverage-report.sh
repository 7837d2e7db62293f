#!/usr/bin/env bash
# Line coverage of codegen/ and runtime/ from the counts that the asan job's
# tests left in build-asan/profiles/ (clang source-based coverage,
# ATTNGEN_COVERAGE; scripts/job-asan.sh calls this after its tests). Prints the
# figures last (build-asan/coverage-summary.txt, which scripts/test.sh puts
# before ctest's summary); the per-file table is build-asan/coverage.txt and
# the report per file and line build-asan/coverage/index.html.
#   scripts/coverage-report.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
b=build-asan
profiles=("$b"/profiles/*.profraw)
[ -e "${profiles[0]}" ] || { echo "coverage: no counts in $b/profiles/ (run scripts/job-asan.sh)" >&2; exit 1; }
llvm-profdata-14 merge -sparse -o "$b/coverage.profdata" "${profiles[@]}"
# Every instrumented binary (a line counts as run where any of them ran it):
# the test programs, the CLI, the fuzz and replay targets, the shared library.
objects=()
for f in "$b"/bin/* "$b"/libattngen.so; do
  [ -f "$f" ] && [ -x "$f" ] && objects+=(-object "$f")
done
cov=(-instr-profile="$b/coverage.profdata" "${objects[@]:1}" -ignore-filename-regex='^/usr/|/(tests|build-asan|examples|tools|bench)/')
# llvm-cov warns of "functions with mismatched data" for the inline functions
# a binary does not emit (records of hash 0, no counts): not a finding. (Its
# html mode colours stderr whatever it is told.)
quiet() { "$@" 2> >(sed 's/\x1b\[[0-9;]*m//g' | grep -v 'functions have mismatched data' >&2); }
quiet llvm-cov-14 export -summary-only "${cov[@]}" >"$b/coverage.json"
quiet llvm-cov-14 report "${cov[@]}" >"$b/coverage.txt"
rm -rf "$b/coverage"
quiet llvm-cov-14 show -format=html -output-dir="$b/coverage" -show-line-counts-or-regions "${cov[@]}" >/dev/null
ROOT=$root python3 - "$b/coverage.json" <<'PY' | tee "$b/coverage-summary.txt"
import json, os, sys
root = os.environ["ROOT"] + "/"
files = [(f["filename"].removeprefix(root), f["summary"]["lines"])
         for f in json.load(open(sys.argv[1]))["data"][0]["files"]]
def line(name, prefix, without=None):
    fs = [l for n, l in files if n.startswith(prefix) and not (without and n.startswith(without))]
    cov = sum(l["covered"] for l in fs)
    tot = sum(l["count"] for l in fs)
    print(f"coverage: {name:<22} {100.0 * cov / max(tot, 1):5.1f}% of lines ({cov} of {tot}, {len(fs)} files)")
line("codegen/", "codegen/")
line("runtime/", "runtime/")
line("codegen/ + runtime/", ("codegen/", "runtime/"))
# The CUDA driver side (loading, launching, device buffers) runs only where a
# GPU is: its share is shown apart, so that the figure above can be read.
line("runtime/cuda/", "runtime/cuda/")
line("runtime/ without cuda/", "runtime/", "runtime/cuda/")
PY
