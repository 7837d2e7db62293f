#!/usr/bin/env bash
# The figures of docs/perf.md, in one run on one machine: attngen's x86
# backend on the BitNet b1.58 2B4T attention shape (Hq 20, Hkv 5, D 128),
# the oneDNN unfused peer, and this machine's peak, all measured here and now.
# Usage: bench/run_perf.sh [BUILD_DIR] [SEQ]   (defaults: build 2048)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
seq=${2:-2048}
bin=$build/bin
A="$bin/attngen bench --backend x86 --q-len $seq --kv-len $seq --reps 3 --json"
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) nproc=$(nproc) load=$(cut -d' ' -f1 /proc/loadavg)"
$bin/attngen peak --json
for s in bitnet_f32 bitnet_bf16 bitnet_f16 bitnet_f32_causal_br bitnet_f32_causal_tl bitnet_bf16_causal_br bitnet_f32_window; do
  $A bench/specs/$s.json --threads 1
done
$A bench/specs/bitnet_f32_padding.json --threads 1 --full-lengths
$A bench/specs/bitnet_f32_custom_bool.json --threads 1 --custom keep_all
$A bench/specs/bitnet_f32_custom_bool.json --threads 1 --custom block_sparse
$A bench/specs/bitnet_f32_custom_bool.json --threads 1 --custom random
$A bench/specs/bitnet_f32.json --threads 2
$A bench/specs/bitnet_f32_causal_br.json --threads 2
# Decode: one query position against a 4096-key cache.
$bin/attngen bench bench/specs/bitnet_f32_causal_br.json --backend x86 --q-len 1 --kv-len 4096 --reps 50 --json --threads 1
$bin/attngen bench bench/specs/bitnet_bf16_causal_br.json --backend x86 --q-len 1 --kv-len 4096 --reps 50 --json --threads 1
if [ -x "$bin/attngen_onednn_sdpa" ]; then
  P="$bin/attngen_onednn_sdpa --heads 20 --kv-heads 5 --head-dim 128 --q-len $seq --kv-len $seq --reps 3 --threads 1"
  $P --dtype f32
  $P --dtype f32 --causal
  $P --dtype bf16
fi
