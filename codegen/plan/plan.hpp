// Plan: how one spec is computed on the x86 target, independent of
// instruction encoding: tile geometry, the kernels to generate, and the
// split of a call into work items. Printable for debugging.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "codegen/spec/spec.hpp"

namespace attngen {

struct TilePlan {
  int tile_rows = 48;         // rows of a Q tile (positions x heads of one KV group)
  int heads_per_tile = 1;     // query heads of one KV group interleaved in a tile
  int positions_per_tile = 48;
  int head_groups = 1;        // tiles across the heads of one KV group
  int block_keys = 64;        // keys per K/V block
  int dv_padded = 0;          // Dv rounded up to the microtile width

  std::string describe() const;
};

TilePlan plan_tiles(const Spec& spec);

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
