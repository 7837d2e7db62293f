#!/usr/bin/env bash
# The figures of docs/perf.md, in one run on one machine: attngen's x86
# backend on the BitNet b1.58 2B4T attention shape (Hq 20, Hkv 5, D 128) on
# every code path this CPU has (AVX-512, AVX2 under ATTNGEN_MAX_ISA=avx2, the
# vdpbf16ps path under ATTNGEN_BF16_DOT=1), decoding from cache and from DRAM,
# the oneDNN unfused peer, the OpenVINO peer (when bench/openvino/setup.sh has
# made its environment), and this machine's peaks, all measured here and now.
# Usage: bench/run_perf.sh [BUILD_DIR] [SEQ]   (defaults: build 2048)
#        LONG=1 also measures Sq = Skv = 32768 on two threads (minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
seq=${2:-2048}
bin=$build/bin
B="$bin/attngen bench --backend x86 --json"
A="$B --q-len $seq --kv-len $seq --reps 3"
S=bench/specs
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) nproc=$(nproc) load=$(cut -d' ' -f1 /proc/loadavg)"
$bin/attngen peak --json
# Prefill, one thread, the default path (AVX-512 where the CPU has it) and AVX2.
for cap in "" avx2; do
  for s in bitnet_f32 bitnet_bf16 bitnet_f16 bitnet_f32_causal_br bitnet_f32_causal_tl bitnet_bf16_causal_br; do
    ATTNGEN_MAX_ISA=$cap $A $S/$s.json --threads 1
  done
done
for s in bitnet_bf16 bitnet_bf16_causal_br; do ATTNGEN_BF16_DOT=1 $A $S/$s.json --threads 1; done
$A $S/bitnet_f32_window.json --threads 1
$A $S/bitnet_f32_padding.json --threads 1 --full-lengths
for c in keep_all block_sparse random; do $A $S/bitnet_f32_custom_bool.json --threads 1 --custom $c; done
# Two threads.
for s in bitnet_f32 bitnet_f32_causal_br bitnet_bf16; do $A $S/$s.json --threads 2; done
# Decode: one query position against a 4096-key cache; one layer repeated (K/V
# in the last-level cache) and a rotation over 40 layers (K/V from DRAM).
for s in bitnet_bf16_causal_br bitnet_f16_causal_br bitnet_f32_causal_br; do
  for rot in 1 40; do $B $S/$s.json --q-len 1 --kv-len 4096 --reps 20 --rotate $rot --threads 1; done
done
if [ "${LONG:-0}" = 1 ]; then
  $B $S/bitnet_f32.json --q-len 32768 --kv-len 32768 --reps 1 --threads 2
  $B $S/bitnet_f32.json --q-len 2048 --kv-len 2048 --reps 3 --threads 2
fi
if [ -x "$bin/attngen_onednn_sdpa" ]; then
  P="$bin/attngen_onednn_sdpa --heads 20 --kv-heads 5 --head-dim 128 --q-len $seq --kv-len $seq --reps 3 --threads 1"
  $P --dtype f32
  $P --dtype f32 --causal
  $P --dtype bf16
  $P --dtype bf16 --causal
fi
venv=${ATTNGEN_OPENVINO_VENV:-$HOME/.cache/attngen-openvino-venv}
if [ -x "$venv/bin/python" ]; then
  O="$venv/bin/python bench/openvino/sdpa_peer.py --heads 20 --kv-heads 5 --head-dim 128 --threads 1 --reps 3"
  $O --dtype f32 --q-len $seq --kv-len $seq
  $O --dtype f32 --q-len $seq --kv-len $seq --causal
  $O --dtype bf16 --q-len $seq --kv-len $seq
  $O --dtype bf16 --q-len $seq --kv-len $seq --causal
  $O --dtype bf16 --model kvcache --kv-len 4096
  $O --dtype f32 --model kvcache --kv-len 4096
fi
