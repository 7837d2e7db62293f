#!/usr/bin/env bash
# The main job, from a fresh clone: install, build, compile a sample spec (the
# attention of BitNet b1.58 2B4T: bf16, GQA 20/5, head dim 128, bottom-right
# causal), run it on random tensors, compare with the float64 reference and
# print the error and the times.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
build/bin/attngen verify specs/examples/bitnet_causal_bf16.json --batch 1 --q-len 256 --kv-len 256 "$@"
