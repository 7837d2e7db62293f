#include "codegen/plan/plan.hpp"

#include <algorithm>
#include <sstream>

#include "codegen/x86/abi.hpp"

namespace attngen {

TilePlan plan_tiles(const Spec& s, x86::Isa isa, bool bf16_dot) {
  TilePlan p;
  p.isa = isa;
  p.block_keys = x86::kBlockKeys;
  const bool zmm = isa == x86::Isa::avx512;
  p.vec_lanes = zmm ? 16 : 8;
  // GEMM microtile: 12 of 16 ymm accumulate 6 rows x 2 vectors (AVX2); 24 of
  // 32 zmm accumulate 6 rows x 4 vectors, a whole 64-key block (AVX-512: half
  // the broadcasts of 12 x 2, measured 15% faster for P.V in isolation).
  p.rows_micro = 6;
  p.cols_micro = zmm ? 64 : 2 * p.vec_lanes;
  p.direct_rows = zmm ? 4 : p.rows_micro;
  p.direct_vecs = zmm ? 4 : 2;
  p.direct_tile_rows = zmm ? 32 : 16;
  p.bf16_dot = bf16_dot && zmm && s.dtype == ElemType::bf16;
  // Rows in lanes pay when the passes are full enough to outrun the 4-row
  // passes: from half full in f32, and from 4/5 in f16/bf16, whose keys and
  // values the lanes kernels convert through L1 (docs/perf.md, 2026-11-29).
  // On the vdpbf16ps plan the 4-row passes multiply bf16 pairs and beat them
  // (1.4-1.8x at 16 and 32 rows, Zen 4, 2026-11-29).
  p.lanes_min_fill = !zmm || p.bf16_dot ? 0 : s.dtype == ElemType::f32 ? 50 : 80;
  // Alone on its KV head, a tile in lanes beat the packs up to 96 rows in f32
  // (1.15-1.35x) and up to 64 in f16/bf16 (1.01-1.12x; 0.9-1.0x at 80-96).
  p.lanes_alone_rows = p.lanes_min_fill == 0 ? 0 : s.dtype == ElemType::f32 ? 96 : 64;
  p.masked_tails = zmm;
  // Rows of a Q tile: every K/V block is read once per tile, so taller tiles
  // read the packs less often. AVX-512 (twice the FLOPs per cycle) needs it:
  // 96 rows measured 3-4% faster than 48 on the BitNet shape (f32, 2048^2,
  // Xeon 2026-11-27), 144 and 192 no better. AVX2 keeps 48.
  p.tile_rows = zmm ? 96 : 48;
  const int g = s.group_size();
  // Interleave the whole KV group when it fits, else the largest divisor that
  // does: every K/V block loaded for a tile serves all of its heads.
  p.heads_per_tile = 1;
  for (int d = 1; d <= g; ++d)
    if (g % d == 0 && d <= p.tile_rows) p.heads_per_tile = d;
  p.head_groups = g / p.heads_per_tile;
  p.positions_per_tile = p.tile_rows / p.heads_per_tile;
  // Whole vectors (the last column chunk of P.V may be narrower than a microtile).
  p.dv_padded = (s.head_dim_v + p.vec_lanes - 1) / p.vec_lanes * p.vec_lanes;
  p.qk_steps = p.bf16_dot ? (s.head_dim + 1) / 2 : s.head_dim;
  p.pv_steps = p.bf16_dot ? p.block_keys / 2 : p.block_keys;
  return p;
}

int TilePlan::lane_rows(int64_t rows, bool only_tile_of_kv_head) const {
  if (lanes_min_fill == 0 || rows > (only_tile_of_kv_head ? lanes_alone_rows : direct_tile_rows)) return 0;
  const int64_t width = rows > 16 ? 32 : 16, passes = (rows + width - 1) / width;
  return rows * 100 >= lanes_min_fill * passes * width ? int(width) : 0;
}

std::string TilePlan::describe() const {
  std::ostringstream os;
  os << x86::isa_name(isa) << ": tile " << tile_rows << " rows = " << positions_per_tile << " positions x "
     << heads_per_tile << " heads (" << head_groups << " head groups per KV head), blocks of " << block_keys
     << " keys, microtile " << rows_micro << "x" << cols_micro << ", Dv padded to " << dv_padded
     << (bf16_dot ? ", bf16 pairs with vdpbf16ps" : ", f32 FMA") << ", tiles of <= " << direct_tile_rows
     << " rows read K/V in place";
  if (lanes_min_fill) os << " (rows in vector lanes when >= " << lanes_min_fill << "% full)";
  return os.str();
}

std::vector<WorkItem> split_keys(const std::vector<WorkItem>& tiles, int parts, int64_t nblocks) {
  const int64_t n = int64_t(tiles.size());
  int64_t splits = 1;
  if (parts > 1 && n > 0 && n < 2 * int64_t(parts)) splits = std::min<int64_t>((2 * parts + n - 1) / n, nblocks);
  std::vector<WorkItem> items;
  for (const WorkItem& t : tiles)
    for (int64_t c = 0; c < std::max<int64_t>(splits, 1); ++c) {
      WorkItem w = t;
      w.split = int32_t(c), w.splits = int32_t(std::max<int64_t>(splits, 1));
      w.cost = t.cost / double(w.splits);
      items.push_back(w);
    }
  return items;
}

std::vector<std::pair<size_t, size_t>> balance(const std::vector<WorkItem>& items, int parts) {
  double total = 0;
  for (const WorkItem& w : items) total += w.cost;
  std::vector<std::pair<size_t, size_t>> ranges;
  size_t begin = 0;
  double acc = 0;
  for (int p = 0; p < parts; ++p) {
    const double target = total * (p + 1) / parts;
    size_t end = begin;
    while (end < items.size() && (p == parts - 1 || acc + items[end].cost * 0.5 <= target)) acc += items[end++].cost;
    ranges.emplace_back(begin, end);
    begin = end;
  }
  return ranges;
}

}  // namespace attngen
