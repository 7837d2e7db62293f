// The x86 driver's per-thread and per-tile state, shared by its two halves:
// x86_kernel.cpp (work items, tiles, classification, output) and
// x86_block.cpp (one (Q tile, K block) pair: packing, the products, the softmax).
#pragma once

#include <cstdint>
#include <vector>

#include "codegen/x86/abi.hpp"
#include "runtime/x86/pack_buffer.hpp"
#include "runtime/x86/x86_kernel.hpp"

namespace attngen::x86 {

constexpr int kB = kBlockKeys;

// One Q tile's rows: packed Q, their descriptions for the softmax, and the
// running max, sum, rescale factor and output; on the lanes path also Q and
// the output transposed (convert.hpp, rows_to_lanes).
struct TileState {
  std::vector<float> q, o, m, l, alpha, qt, ot;
  std::vector<RowInfo> rows;
  int64_t kb_first = 0, kb_last = -1;  // the key blocks this item visits
};

// Long contexts: a thread runs up to kGroupTiles consecutive tiles of one KV
// head together, over chunks of key blocks whose packs fit in about
// pack_budget() bytes (L2), so each chunk is read from L3 once per group
// rather than once per tile.
constexpr size_t kGroupTiles = 4;

// Per-thread buffers; K/V packs are kept while consecutive items share a KV head.
struct Workspace {
  int64_t kv_b = -1, kv_head = -1;
  PackBuffer kt, v;              // packed blocks (TilePlan::k_block_bytes, v_block_bytes each)
  std::vector<uint8_t> packed;   // per block: packed for (kv_b, kv_head)?
  TileState tiles[kGroupTiles];
  std::vector<float> s, row_tmp;  // scores of the block being computed; a row being converted
  std::vector<float> lanes_scratch;  // lanes path: converted K or V, P^T
  std::vector<uint8_t> k_rows;       // lanes path: the last K block, with zero rows
  std::vector<RowInfo> tail_rows;
  std::vector<uint8_t> tail_mask;  // rows x 64 elements of the mask, for tails and strided masks
  std::vector<int32_t> tail_doc;
};

// Per-tile facts that every block of the tile needs.
struct X86Kernel::TileContext {
  const BoundArgs& a;
  const WorkItem& w;
  const MaskBlocks& mask_blocks;
  Workspace& ws;
  TileState& st;
  int64_t b, q_len, kv_len, rows;
  const CustomMask* custom;
  bool doc, direct;
  int lane_rows;   // direct with the rows in vector lanes: rows a pass (16 or 32); else 0
  int64_t passes;  // lanes: passes of lane_rows rows
};

// What one (Q tile, K block) pair needs from its classification.
struct X86Kernel::BlockPlan {
  bool skip = false, full = true;
  const int32_t* kv_doc = nullptr;   // the block's document ids
  const RowInfo* rows = nullptr;     // row descriptions (mask rows maybe redirected to a copy)
  int64_t mask_col = 0;              // byte offset of the block in mask rows
};

}  // namespace attngen::x86
