// The x86 driver: runs the generated tile kernels over a call's work items.
//
// Per Q tile (rows = positions x heads of one KV group) it walks the K/V
// blocks that the index masks allow, classifies each (Q tile, block) pair as
// empty (skipped: no loads, no FLOPs), full (no per-element mask work) or
// partial (masked kernel), and runs S = Q.K^T, the masked online softmax and
// O += P.V on it (x86_block.cpp). K (transposed) and V blocks are packed to
// f32 once per thread and KV head, lazily, so blocks no tile needs are never
// read; tiles of few rows, or alone on their KV head, read K and V in place.
#include "runtime/x86/x86_kernel.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "codegen/spec/semantics.hpp"
#include "runtime/core/error.hpp"
#include "runtime/x86/convert.hpp"
#include "runtime/x86/mask_summary.hpp"
#include "runtime/x86/tile_work.hpp"

namespace attngen::x86 {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

int32_t read_i32(const TensorRef& t, int64_t i0, int64_t i1 = 0) {
  return *reinterpret_cast<const int32_t*>(element_ptr(t, i0, i1));
}

int64_t pack_budget() {
  // ATTNGEN_X86_PACK_BUDGET (bytes) exists for tests that force chunking on small shapes.
  static const int64_t budget = [] {
    const char* e = std::getenv("ATTNGEN_X86_PACK_BUDGET");
    return e && *e ? std::max<int64_t>(1, std::atoll(e)) : int64_t(1) << 20;
  }();
  return budget;
}

}  // namespace

TilePlan X86Kernel::host_plan(const Spec& spec) { return plan_tiles(spec, cpu_info().isa, cpu_info().bf16_dot); }

namespace {

// What the kernel's code is, for `info`, `bench` and logs: the vector ISA,
// and for bf16 specs whether the products use vdpbf16ps.
std::string generated_isa(const TilePlan& plan) {
  return std::string(isa_name(plan.isa)) + (plan.bf16_dot ? "+vdpbf16ps" : "");
}

}  // namespace

X86Kernel::X86Kernel(const Spec& spec)
    : Kernel(spec, "x86", cpu_info().target(), generated_isa(host_plan(spec))), plan_(host_plan(spec)) {
  auto add = [this](int slot, std::shared_ptr<JitGenerator> g) {
    code_.entry[slot] = g->getCode(), code_.size[slot] = g->getSize();
    code_.owners.push_back(std::move(g));
  };
  add(kSlotQk, std::make_shared<QkKernel>(plan_, spec.scale));
  add(kSlotPv, std::make_shared<PvKernel>(plan_, plan_.dv_padded, plan_.dv_padded,
                                          plan_.bf16_dot ? ElemType::bf16 : ElemType::f32));
  if (direct_path_possible(spec, plan_)) {
    add(kSlotQkDirect, std::make_shared<QkDirectKernel>(plan_, spec.head_dim, spec.dtype, spec.scale));
    add(kSlotPvDirect, std::make_shared<PvKernel>(plan_, spec.head_dim_v, plan_.dv_padded, spec.dtype, true));
    if (plan_.lanes_min_fill > 0) {
      for (int rv = 1; rv <= 2; ++rv) {
        add(rv == 1 ? kSlotQkLanes16 : kSlotQkLanes32, std::make_shared<QkLanesKernel>(plan_, spec.head_dim, spec.dtype, rv));
        add(rv == 1 ? kSlotPvLanes16 : kSlotPvLanes32, std::make_shared<PvLanesKernel>(plan_, spec.head_dim_v, spec.dtype, rv));
      }
    }
  }
  for (int in_dtype = 0; in_dtype < (additive_in_dtype_too(spec) ? 2 : 1); ++in_dtype)
    for (int partial = 0; partial < 2; ++partial) {
      SoftmaxOptions opt = SoftmaxOptions::from_spec(spec, partial, in_dtype ? spec.dtype : ElemType::f32);
      opt.p_bf16 = plan_.bf16_dot;
      add(softmax_slot(in_dtype, partial), std::make_shared<SoftmaxKernel>(opt, plan_.isa));
    }
}

// An additive mask may come in f32 or in the spec dtype: softmaxes for both.
bool X86Kernel::additive_in_dtype_too(const Spec& spec) {
  const CustomMask* custom = spec.find_mask<CustomMask>();
  return custom && custom->format == CustomFormat::additive && spec.dtype != ElemType::f32;
}

// Tiles of few rows read K and V in place (QkDirectKernel, PvKernel on the
// tensor): AVX2 needs whole vectors along D and Dv; AVX-512 masks the tails.
// On the vdpbf16ps plan they multiply bf16 pairs as stored (Q.K^T) or paired
// in registers (P.V): a few rows would not repay packing K and V into pairs.
bool X86Kernel::direct_path_possible(const Spec& spec, const TilePlan& plan) {
  return plan.isa == Isa::avx512 || (spec.head_dim % 8 == 0 && spec.head_dim_v % plan.cols_micro == 0);
}

X86Kernel::X86Kernel(const Spec& spec, CodeSet code)
    : Kernel(spec, "x86", cpu_info().target(), generated_isa(host_plan(spec))),
      plan_(host_plan(spec)),
      code_(std::move(code)) {
  if (additive_in_dtype_too(spec) && !(code_.has(kSlotSoftmaxFullDtype) && code_.has(kSlotSoftmaxPartialDtype)))
    throw Error("x86 kernel image: the softmax for an additive mask in the spec dtype is missing");
}

int X86Kernel::softmax_slot(bool additive_in_dtype, bool partial) {
  return additive_in_dtype ? (partial ? kSlotSoftmaxPartialDtype : kSlotSoftmaxFullDtype)
                           : (partial ? kSlotSoftmaxPartial : kSlotSoftmaxFull);
}

std::vector<Kernel::CodeBlob> X86Kernel::code_blobs() const {
  std::vector<CodeBlob> blobs;
  for (int slot = 0; slot < kNumSlots; ++slot)
    if (code_.has(slot))
      blobs.push_back({std::string(slot_name(slot)) + ".bin", code_.entry[slot], code_.size[slot], "i386:x86-64"});
  return blobs;
}

std::vector<WorkItem> X86Kernel::work_items(const BoundArgs& a) const {
  const Spec& s = spec();
  const bool align_tiles = s.find_mask<CustomMask>() != nullptr;
  std::vector<WorkItem> items;
  for (int32_t b = 0; b < a.batch; ++b) {
    const RowContext ctx{a.q_len(b), a.kv_len(b), 0};
    for (int32_t kvh = 0; kvh < s.num_kv_heads; ++kvh)
      for (int32_t hg = 0; hg < plan_.head_groups; ++hg)
        for (int64_t p0 = 0, p1; p0 < a.sq; p0 = p1) {
          p1 = std::min<int64_t>(a.sq, p0 + plan_.positions_per_tile);
          // With a custom mask, tiles do not straddle 64-position bands, so a
          // mask that is sparse in 64x64 (or coarser) blocks skips whole tiles.
          if (align_tiles) p1 = std::min(p1, (p0 / kB + 1) * kB);
          // Cost: allowed keys of the first and last row (exact for intervals that
          // move monotonically), plus a fixed overhead per tile.
          double cost = 64;
          if (p0 < ctx.sq) {
            const KeyInterval first = allowed_interval(s, p0, ctx);
            const KeyInterval last = allowed_interval(s, std::min(p1, ctx.sq) - 1, ctx);
            const double n = double(std::min(p1, ctx.sq) - p0);
            cost += n * 0.5 * double(std::max<int64_t>(0, first.hi - first.lo + 1) + std::max<int64_t>(0, last.hi - last.lo + 1));
          }
          items.push_back({b, kvh, hg, p0, p1, cost, int32_t(items.size())});
        }
  }
  return items;
}

// Partial softmax states of split tiles: per (tile, split), rows x [m, l, O].
struct X86Kernel::Partials {
  std::vector<float> state;
  std::unique_ptr<std::atomic<int>[]> done;  // finished splits per tile
  int64_t row_floats = 0, tile_rows = 0, tile_floats = 0;
  float* at(int64_t tile, int64_t split) { return state.data() + tile * tile_floats + split * tile_rows * row_floats; }
};

std::unique_ptr<CallPlan> X86Kernel::plan_call(const BoundArgs& a, int parts) const {
  // Contiguous, cost-balanced ranges of tiles: a range's tiles share KV heads,
  // so its thread packs each K/V block once.
  struct Plan final : CallPlan {
    const X86Kernel* k;
    BoundArgs a;
    std::vector<WorkItem> items_;
    std::vector<std::pair<size_t, size_t>> ranges;
    MaskBlocks mask_blocks;
    mutable Partials partials;
    size_t items() const override { return ranges.size(); }
    void run_item(size_t i) const override {
      // Buffers persist per thread across calls (no page faults per call); the
      // packed K/V blocks belong to this call only.
      thread_local Workspace ws;
      ws.kv_b = ws.kv_head = -1;
      for (size_t t = ranges[i].first, n; t < ranges[i].second; t += n) {
        n = k->group_size(a, items_.data() + t, ranges[i].second - t);
        k->run_tiles(a, items_.data() + t, n, mask_blocks, &partials, &ws);
      }
    }
  };
  // Key indices travel as int32 lanes in the generated masks.
  if (a.sq > INT32_MAX / 2 || a.skv > INT32_MAX / 2)
    throw Error("x86: sequence extents above 2^30 are not supported (Sq " + std::to_string(a.sq) + ", Skv " +
                std::to_string(a.skv) + ")");
  auto p = std::make_unique<Plan>();
  p->k = this, p->a = a;
  const std::vector<WorkItem> tiles = work_items(a);
  p->items_ = split_keys(tiles, parts, (a.skv + kB - 1) / kB);
  if (!p->items_.empty() && p->items_[0].splits > 1) {
    Partials& pt = p->partials;
    pt.row_floats = 2 + plan_.dv_padded;
    pt.tile_rows = plan_.tile_rows;
    pt.tile_floats = int64_t(p->items_[0].splits) * pt.tile_rows * pt.row_floats;
    pt.state.resize(size_t(int64_t(tiles.size()) * pt.tile_floats));
    pt.done = std::make_unique<std::atomic<int>[]>(tiles.size());
  }
  if (spec().find_mask<CustomMask>()) p->mask_blocks = MaskBlocks(a.t.mask);
  p->ranges = balance(p->items_, std::max(1, std::min(parts, int(p->items_.size()))));
  return p;
}

// Query head of row r of a tile: rows interleave the heads of the KV group.
int64_t X86Kernel::row_head(const WorkItem& w, int64_t r) const {
  return int64_t(w.kv_head) * spec().group_size() + int64_t(w.head_group) * plan_.heads_per_tile +
         r % plan_.heads_per_tile;
}


// Tiles of few rows read K/V in place; the rest use the packs.
bool X86Kernel::direct_tile(const BoundArgs& a, const WorkItem& w) const {
  const int64_t rows = (w.p1 - w.p0) * plan_.heads_per_tile;
  return (rows <= plan_.direct_tile_rows || lane_rows(a, w) > 0) && code_.has(kSlotQkDirect) &&
         a.t.k.stride[3] == 1 && a.t.v.stride[3] == 1;
}

// Rows a pass when the tile's rows go in vector lanes (TilePlan::lane_rows), else 0.
int X86Kernel::lane_rows(const BoundArgs& a, const WorkItem& w) const {
  const bool only_tile = a.sq <= plan_.positions_per_tile && plan_.head_groups == 1;
  return code_.has(kSlotQkLanes16) ? plan_.lane_rows((w.p1 - w.p0) * plan_.heads_per_tile, only_tile) : 0;
}

// Key blocks per chunk when tiles run as a group: their packs fit the budget.
int64_t X86Kernel::chunk_blocks() const {
  return std::max<int64_t>(1, pack_budget() / (plan_.k_block_bytes() + plan_.v_block_bytes()));
}

// How many of the next `n` items run together: consecutive whole (unsplit)
// packed tiles of one KV head, when their keys span more than one chunk.
size_t X86Kernel::group_size(const BoundArgs& a, const WorkItem* items, size_t n) const {
  const int64_t nblocks = (a.skv + kB - 1) / kB;
  auto groupable = [&](const WorkItem& w) {
    return w.splits == 1 && w.b == items[0].b && w.kv_head == items[0].kv_head && !direct_tile(a, w);
  };
  if (nblocks <= chunk_blocks() || !groupable(items[0])) return 1;
  size_t g = 1;
  while (g < std::min(n, kGroupTiles) && groupable(items[g])) ++g;
  return g;
}

void X86Kernel::run_tiles(const BoundArgs& a, const WorkItem* items, size_t n, const MaskBlocks& mask_blocks,
                          Partials* partials, void* workspace) const {
  Workspace& ws = *static_cast<Workspace*>(workspace);
  const Spec& s = spec();
  const int64_t nblocks = (a.skv + kB - 1) / kB;
  std::vector<TileContext> tcs;
  tcs.reserve(n);
  int64_t kb_begin = INT64_MAX, kb_end = -1;
  for (size_t i = 0; i < n; ++i) {
    const WorkItem& w = items[i];
    const int64_t b = w.b, rows = (w.p1 - w.p0) * plan_.heads_per_tile;
    TileState& st = ws.tiles[i];
    const bool direct = direct_tile(a, w);
    const int lane_rows = direct ? this->lane_rows(a, w) : 0;
    const int64_t passes = lane_rows ? (rows + lane_rows - 1) / lane_rows : 0;
    const int64_t rows_padded = lane_rows ? passes * lane_rows : rows;
    tcs.push_back(TileContext{a, w, mask_blocks, ws, st, b, a.q_len(b), a.kv_len(b), rows, s.find_mask<CustomMask>(),
                              s.find_mask<DocumentMask>() != nullptr, direct, lane_rows, passes});
    st.q.resize(size_t(rows * plan_.qk_steps));
    st.o.assign(size_t(rows * plan_.dv_padded), 0.f);
    st.m.assign(size_t(rows), kNegInf);
    st.l.assign(size_t(rows), 0.f);
    st.alpha.assign(size_t(rows_padded), 0.f);  // lanes: the padding rows' factors are read
    st.rows.resize(size_t(rows));
    if (ws.s.size() < size_t(rows_padded * kB)) ws.s.resize(size_t(rows_padded * kB));
    if (ws.kv_b != b || ws.kv_head != w.kv_head) {
      ws.kv_b = b, ws.kv_head = w.kv_head;
      ws.packed.assign(size_t(nblocks), 0);
      ws.kt.reserve(size_t(nblocks * plan_.k_block_bytes() / 4));
      ws.v.reserve(size_t(nblocks * plan_.v_block_bytes() / 4));
    }
    int64_t jmin, jmax;
    prepare_rows(tcs.back(), &jmin, &jmax);
    if (lane_rows) {
      st.qt.resize(size_t(rows_padded * s.head_dim));
      rows_to_lanes(st.q.data(), rows, plan_.qk_steps, s.head_dim, lane_rows, st.qt.data());
      st.ot.assign(size_t(rows_padded * s.head_dim_v), 0.f);
      const int rv = lane_rows / 16;
      const int64_t scratch = std::max(QkLanesKernel::scratch_floats(s.head_dim, rv), PvLanesKernel::scratch_floats(rv));
      if (ws.lanes_scratch.size() < size_t(scratch)) ws.lanes_scratch.resize(size_t(scratch));
    }
    // This item's chunk of the key blocks (all of them unless the tile is split).
    const int64_t kb_lo = nblocks * w.split / w.splits, kb_hi = nblocks * (w.split + 1) / w.splits;
    st.kb_first = std::max(jmin / kB, kb_lo);
    st.kb_last = jmax < 0 ? -1 : std::min(jmax / kB, kb_hi - 1);
    if (st.kb_first <= st.kb_last) kb_begin = std::min(kb_begin, st.kb_first), kb_end = std::max(kb_end, st.kb_last);
  }
  // One tile: its blocks in order. A group: chunk by chunk, every tile over
  // the chunk, so the chunk's packs stay in L2 across the group.
  const int64_t chunk = n > 1 ? chunk_blocks() : nblocks;
  for (int64_t c0 = kb_begin; c0 <= kb_end; c0 += chunk)
    for (TileContext& tc : tcs)
      for (int64_t kb = std::max(c0, tc.st.kb_first); kb <= std::min(c0 + chunk - 1, tc.st.kb_last); ++kb) {
        const BlockPlan bp = classify_block(tc, kb);
        if (!bp.skip) run_block(tc, kb, bp);
      }
  for (TileContext& tc : tcs) {
    if (tc.lane_rows)
      lanes_to_rows(tc.st.ot.data(), tc.rows, s.head_dim_v, tc.lane_rows, tc.st.o.data(), plan_.dv_padded);
    end_tile(tc, partials);
  }
}

// A whole tile's rows go out; a split tile publishes its chunk's state and
// the last chunk to finish merges them.
void X86Kernel::end_tile(TileContext& tc, Partials* partials) const {
  const WorkItem& w = tc.w;
  TileState& st = tc.st;
  if (w.splits == 1) {
    finish_rows(tc);
    return;
  }
  float* mine = partials->at(w.tile, w.split);
  for (int64_t r = 0; r < tc.rows; ++r) {
    float* row = mine + r * partials->row_floats;
    row[0] = st.m[size_t(r)], row[1] = st.l[size_t(r)];
    std::copy(st.o.begin() + r * plan_.dv_padded, st.o.begin() + (r + 1) * plan_.dv_padded, row + 2);
  }
  if (partials->done[w.tile].fetch_add(1, std::memory_order_acq_rel) + 1 < w.splits) return;
  for (int64_t r = 0; r < tc.rows; ++r) {
    float m = kNegInf;
    for (int c = 0; c < w.splits; ++c) m = std::max(m, partials->at(w.tile, c)[r * partials->row_floats]);
    float l = 0;
    float* o = st.o.data() + r * plan_.dv_padded;
    std::fill(o, o + plan_.dv_padded, 0.f);
    for (int c = 0; c < w.splits; ++c) {
      const float* part = partials->at(w.tile, c) + r * partials->row_floats;
      if (part[1] == 0) continue;  // this chunk saw no allowed key (a NaN sum must reach the row)
      const float f = std::exp(part[0] - m);
      l += part[1] * f;
      for (int d = 0; d < plan_.dv_padded; ++d) o[d] += part[2 + d] * f;
    }
    st.m[size_t(r)] = m, st.l[size_t(r)] = l;
  }
  finish_rows(tc);
}

// Packs Q (scaled, f32) and describes each row for the masked softmax; the
// union of the rows' key intervals is [jmin, jmax] (jmax < 0: none).
void X86Kernel::prepare_rows(TileContext& tc, int64_t* jmin, int64_t* jmax) const {
  const Spec& s = spec();
  const AttentionArgs& t = tc.a.t;
  const int D = s.head_dim, Gh = plan_.heads_per_tile;
  RowContext ctx{tc.q_len, tc.kv_len, 0};
  if (const PrefixLmMask* p = s.find_mask<PrefixLmMask>())
    ctx.prefix_len = p->prefix ? *p->prefix : read_i32(t.prefix_lens, tc.b);
  *jmin = INT64_MAX, *jmax = -1;
  for (int64_t r = 0; r < tc.rows; ++r) {
    const int64_t i = tc.w.p0 + r / Gh, h = row_head(tc.w, r);
    RowInfo& ri = tc.st.rows[size_t(r)];
    ri = RowInfo{0, -1, float(i + tc.kv_len - tc.q_len), 0.f, 0, 0, nullptr};
    float* qr = tc.st.q.data() + r * plan_.qk_steps;
    if (i < tc.q_len) {
      if (plan_.bf16_dot)  // bf16 pairs as stored; the Q.K^T kernels apply the scale
        load_row_pairs(element_ptr(t.q, tc.b, h, i), t.q.stride[3], D, reinterpret_cast<uint32_t*>(qr));
      else
        load_row_f32(s.dtype, element_ptr(t.q, tc.b, h, i), t.q.stride[3], D, float(s.scale), qr);
      const KeyInterval k = allowed_interval(s, i, ctx);
      ri.lo = int32_t(k.lo), ri.hi = int32_t(k.hi);
      if (!k.empty()) *jmin = std::min(*jmin, k.lo), *jmax = std::max(*jmax, k.hi);
    } else {
      std::fill(qr, qr + plan_.qk_steps, 0.f);  // past q_len: never read, output 0
    }
    if (t.alibi_slopes.present()) ri.slope = *reinterpret_cast<const float*>(element_ptr(t.alibi_slopes, tc.b, h));
    if (tc.doc) ri.qdoc = read_i32(t.q_doc, tc.b, i);
    if (tc.custom) ri.mask_row = element_ptr(t.mask, tc.b, h, i, 0);
  }
}

// Empty (skip), full (no per-element mask work) or partial, from the index
// intervals, the document ids' ranges and the custom mask's block summary.
X86Kernel::BlockPlan X86Kernel::classify_block(TileContext& tc, int64_t kb) const {
  const AttentionArgs& t = tc.a.t;
  Workspace& ws = tc.ws;
  const int64_t j0 = kb * kB, j1 = j0 + kB - 1;
  const int64_t jend = std::min(j1, tc.a.skv - 1);  // last key inside the tensors
  BlockPlan bp;
  bp.rows = tc.st.rows.data();
  bool any = false;
  for (const RowInfo& ri : tc.st.rows) {
    any = any || (ri.lo <= ri.hi && ri.hi >= j0 && ri.lo <= j1);
    bp.full = bp.full && ri.lo <= j0 && ri.hi >= j1;
  }
  if (!any) return BlockPlan{true};
  if (tc.doc) {
    int32_t kmin = INT32_MAX, kmax = INT32_MIN, qmin = INT32_MAX, qmax = INT32_MIN;
    for (int64_t j = j0; j <= std::min(jend, tc.kv_len - 1); ++j) {
      const int32_t d = read_i32(t.kv_doc, tc.b, j);
      kmin = std::min(kmin, d), kmax = std::max(kmax, d);
    }
    for (const RowInfo& ri : tc.st.rows)
      if (ri.lo <= ri.hi) qmin = std::min(qmin, ri.qdoc), qmax = std::max(qmax, ri.qdoc);
    if (qmax < kmin || qmin > kmax) return BlockPlan{true};  // no id in common
    bp.full = bp.full && kmin == kmax && qmin == qmax && qmin == kmin;
    if (t.kv_doc.stride[1] == 1 && (j1 < tc.a.skv || plan_.masked_tails)) {
      bp.kv_doc = reinterpret_cast<const int32_t*>(element_ptr(t.kv_doc, tc.b, j0));
    } else {  // the kernel reads 64 ids
      ws.tail_doc.assign(kB, INT32_MIN);
      for (int64_t j = j0; j <= jend; ++j) ws.tail_doc[size_t(j - j0)] = read_i32(t.kv_doc, tc.b, j);
      bp.kv_doc = ws.tail_doc.data();
    }
  }
  if (tc.custom) {
    const int64_t es = int64_t(elem_size(t.mask.type));
    bool any_keep = false, all_keep = true;
    for (int64_t r = 0; r < tc.rows; ++r) {
      const RowInfo& ri = tc.st.rows[size_t(r)];
      if (ri.lo > ri.hi || ri.hi < j0 || ri.lo > j1) continue;
      const uint8_t bits = tc.mask_blocks.at(tc.b, row_head(tc.w, r), tc.w.p0 + r / plan_.heads_per_tile, kb);
      any_keep = any_keep || (bits & MaskBlocks::kAny);
      all_keep = all_keep && (bits & MaskBlocks::kAll);
    }
    if (!any_keep) return BlockPlan{true};
    bp.full = bp.full && (tc.custom->format == CustomFormat::additive || all_keep);
    bp.mask_col = j0 * es;
    if (t.mask.stride[3] != 1 || (j1 >= tc.a.skv && !plan_.masked_tails)) {
      // Copy the block's mask columns: they are strided, or (AVX2) the block
      // ends past the tensors and the kernel must not read past a row.
      ws.tail_mask.assign(size_t(tc.rows * kB * es), 0);
      ws.tail_rows = tc.st.rows;
      for (int64_t r = 0; r < tc.rows; ++r) {
        char* dst = reinterpret_cast<char*>(ws.tail_mask.data()) + r * kB * es;
        const char* src = static_cast<const char*>(tc.st.rows[size_t(r)].mask_row);
        for (int64_t j = j0; j <= jend; ++j) std::memcpy(dst + (j - j0) * es, src + j * t.mask.stride[3] * es, size_t(es));
        ws.tail_rows[size_t(r)].mask_row = dst;
      }
      bp.rows = ws.tail_rows.data();
      bp.mask_col = 0;
    }
  }
  return bp;
}

// O = acc / l in the storage dtype; a row that saw no allowed key (l = 0)
// outputs 0 and LSE -inf; a row whose scores held NaN or +inf (NaN/Inf data,
// an f32 overflow) has l = NaN and outputs NaN, never the masked signature.
void X86Kernel::finish_rows(TileContext& tc) const {
  const Spec& s = spec();
  const AttentionArgs& t = tc.a.t;
  const int Dv = s.head_dim_v, Dvp = plan_.dv_padded;
  for (int64_t r = 0; r < tc.rows; ++r) {
    const int64_t i = tc.w.p0 + r / plan_.heads_per_tile, h = row_head(tc.w, r);
    const float l = tc.st.l[size_t(r)];
    const bool empty = l == 0;
    float* o = tc.st.o.data() + r * Dvp;
    if (empty) std::fill(o, o + Dv, 0.f);
    store_row(s.dtype, o, Dv, empty ? 0.f : 1.f / l, const_cast<char*>(element_ptr(t.o, tc.b, h, i)), t.o.stride[3]);
    if (s.return_lse)
      *reinterpret_cast<float*>(const_cast<char*>(element_ptr(t.lse, tc.b, h, i))) =
          empty ? kNegInf : tc.st.m[size_t(r)] + std::log(l);
  }
}

}  // namespace attngen::x86
