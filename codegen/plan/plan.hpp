// Plan: how one spec is computed on the x86 target, independent of
// instruction encoding: tile geometry per vector ISA, the layout of the
// packed operands, and the split of a call into work items. Printable for
// debugging (`attngen compile` shows it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "codegen/spec/spec.hpp"
#include "codegen/x86/cpu.hpp"

namespace attngen {

struct TilePlan {
  x86::Isa isa = x86::Isa::avx2;
  int tile_rows = 48;         // rows of a Q tile (positions x heads of one KV group)
  int heads_per_tile = 1;     // query heads of one KV group interleaved in a tile
  int positions_per_tile = 48;
  int head_groups = 1;        // tiles across the heads of one KV group
  int block_keys = 64;        // keys per K/V block

  // GEMM register microtile: rows_micro rows x two vectors of vec_lanes f32
  // (AVX2: 6 x 16 in 12 ymm accumulators; AVX-512: 12 x 32 in 24 zmm).
  int vec_lanes = 8;
  int rows_micro = 6;
  int cols_micro = 16;
  int dv_padded = 0;          // Dv rounded up to whole vectors (the O buffer's row)
  // P.V reading V in place (tiles of few rows: decoding): a microtile of
  // direct_rows x direct_vecs vectors (AVX-512: 4 x 4, so that each pass reads
  // whole 128-byte pieces of the V rows; AVX2: the packed shape, 6 x 2).
  int direct_rows = 6;
  int direct_vecs = 2;
  // Tiles of at most this many rows take that path (no packs: decoding, a
  // GQA group's step, short chunks); taller ones pack K and V. Measured
  // (docs/perf.md, 2026-11-28): AVX-512 32, AVX2 16.
  int direct_tile_rows = 16;
  // Of those, tiles that fill at least this percentage of the lanes of their
  // passes (16 rows a pass up to 16 rows, else 32) put the rows in vector
  // lanes (AVX-512, codegen/x86/lanes_kernels.hpp); 0: never (AVX2). So do
  // taller tiles, up to lanes_alone_rows, that are the only tile of their KV
  // head: no other tile would use their packs.
  int lanes_min_fill = 0;
  int lanes_alone_rows = 0;
  // The masked softmax reads a block's custom mask and document ids with
  // masked loads that stop at the tensors' end (AVX-512); otherwise the
  // driver copies the last block's (AVX2).
  bool masked_tails = false;

  // bf16 specs on CPUs where vdpbf16ps pays (cpu.hpp): Q stays bf16 (scaled
  // in the Q.K^T kernel), K and V are packed as bf16 pairs along the
  // reduction axis, P is rounded to bf16; accumulation and softmax stay f32.
  bool bf16_dot = false;
  // Reduction steps of Q.K^T: D (f32 operands) or ceil(D / 2) (bf16 pairs);
  // every step is 4 bytes of a Q row and 4 bytes per key of the K pack.
  int qk_steps = 0;
  // Reduction steps of P.V over a block: 64 keys or 32 key pairs; every step
  // is 4 bytes of a P row and 4 * dv_padded bytes of the V pack.
  int pv_steps = 64;

  // Rows a pass of the lanes kernels for a tile of `rows` rows: 16, 32, or 0
  // (packs, or the in-place kernels' passes of 4 rows up to direct_tile_rows).
  int lane_rows(int64_t rows, bool only_tile_of_kv_head) const;
  int q_row_bytes() const { return qk_steps * 4; }
  int64_t k_block_bytes() const { return int64_t(qk_steps) * block_keys * 4; }
  // Columns of a packed V block: whole microtile groups (zeros past Dv).
  int v_pack_cols() const { return (dv_padded + cols_micro - 1) / cols_micro * cols_micro; }
  int64_t v_block_bytes() const { return int64_t(pv_steps) * v_pack_cols() * 4; }
  std::string describe() const;
};

TilePlan plan_tiles(const Spec& spec, x86::Isa isa, bool bf16_dot);

// One unit of work: one Q tile of one (batch entry, KV head).
// When a call has too few tiles to keep every thread busy (decoding a short
// batch), each tile's keys are split into chunks whose partial softmax states
// are merged by the chunk that finishes last (split-KV, flash-decoding).
struct WorkItem {
  int32_t b, kv_head, head_group;  // head_group: which slice of the KV group's heads
  int64_t p0, p1;                  // query positions [p0, p1)
  double cost;                     // estimated allowed score elements
  int32_t tile = 0;                // index of the Q tile
  int32_t split = 0, splits = 1;   // key chunk `split` of `splits`
};

// Splits each tile's keys into chunks when there are fewer than two tiles
// per part; `nblocks` caps the chunks at one K block each.
std::vector<WorkItem> split_keys(const std::vector<WorkItem>& tiles, int parts, int64_t nblocks);

// Contiguous ranges of `items` with about equal cost, one per thread: a
// thread's items share KV heads, so its packed K/V blocks are reused.
std::vector<std::pair<size_t, size_t>> balance(const std::vector<WorkItem>& items, int parts);

}  // namespace attngen
