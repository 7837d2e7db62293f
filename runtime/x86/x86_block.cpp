// The x86 driver's work on one (Q tile, K block) pair: K and V packed, or
// read in place (the decode path: 4-row passes, or the rows in vector lanes),
// then S = Q.K^T, the masked online softmax and O = alpha O + P.V through the
// generated kernels.
#include <algorithm>
#include <cstring>

#include "runtime/x86/convert.hpp"
#include "runtime/x86/tile_work.hpp"

namespace attngen::x86 {

// S = Q.K^T, the masked online softmax and O = alpha O + P.V for one block.
void X86Kernel::run_block(TileContext& tc, int64_t kb, const BlockPlan& bp) const {
  if (tc.lane_rows) return run_block_lanes(tc, kb, bp);
  const Spec& s = spec();
  const AttentionArgs& t = tc.a.t;
  Workspace& ws = tc.ws;
  const int64_t j0 = kb * kB, es = int64_t(elem_size(s.dtype));
  const void* v_block;
  int64_t v_stride, v_chunk, pv_steps, v_prefetch = 0;
  if (tc.direct) {
    // Keys at or past kv_len are never read: Q.K^T stops there (the softmax
    // masks those columns) and P.V skips them.
    const int64_t nkeys = std::min<int64_t>(kB, tc.kv_len - j0);
    // Prefetch the next block's rows while this one computes (a prefetch
    // past the tensor's end is harmless: prefetches never fault). Row strides
    // in bytes only where a second row is read, the prefetch distance only
    // where there is a next block: then they lie inside the view and cannot
    // overflow int64 (a single key may have any stride; fuzz_api_args,
    // crash-8f9470c4).
    const bool next = tc.kv_len - j0 > kB;
    const QkDirectArgs qa{tc.st.q.data(), element_ptr(t.k, tc.b, tc.w.kv_head, j0),
                          nkeys > 1 ? t.k.stride[2] * es : 0, ws.s.data(), tc.rows, nkeys,
                          next ? kB * t.k.stride[2] * es : 0};
    code_.fn<QkDirectFn>(kSlotQkDirect)(&qa);
    v_block = element_ptr(t.v, tc.b, tc.w.kv_head, j0);
    v_stride = nkeys > 1 ? t.v.stride[2] * es : 0;
    v_chunk = plan_.direct_vecs * plan_.vec_lanes * es;
    pv_steps = nkeys;
    v_prefetch = next ? kB * v_stride : 0;
  } else {
    char* kt = reinterpret_cast<char*>(ws.kt.data()) + kb * plan_.k_block_bytes();
    char* vp = reinterpret_cast<char*>(ws.v.data()) + kb * plan_.v_block_bytes();
    if (!ws.packed[size_t(kb)]) {
      pack_block(tc.a, tc.w, kb, kt, vp, &ws.row_tmp);
      ws.packed[size_t(kb)] = 1;
    }
    const QkArgs qa{tc.st.q.data(), reinterpret_cast<const float*>(kt), ws.s.data(), tc.rows};
    code_.fn<QkFn>(kSlotQk)(&qa);
    v_block = vp;
    v_stride = plan_.cols_micro * 4;
    v_chunk = int64_t(plan_.pv_steps) * plan_.cols_micro * 4;
    pv_steps = plan_.pv_steps;
  }
  softmax_block(tc, kb, bp);
  const PvArgs pa{ws.s.data(), v_block, v_stride, v_chunk, tc.st.o.data(), tc.st.alpha.data(), tc.rows, pv_steps,
                  v_prefetch};
  code_.fn<PvFn>(tc.direct ? kSlotPvDirect : kSlotPv)(&pa);
}

// The lanes path's block: K and V in place (K copied, with zero rows, when
// the block ends past kv_len: the kernel reads 64 rows).
void X86Kernel::run_block_lanes(TileContext& tc, int64_t kb, const BlockPlan& bp) const {
  const Spec& s = spec();
  const AttentionArgs& t = tc.a.t;
  Workspace& ws = tc.ws;
  const int64_t j0 = kb * kB, es = int64_t(elem_size(s.dtype));
  const int64_t nkeys = std::min<int64_t>(kB, tc.kv_len - j0);
  const bool next = tc.kv_len - j0 > kB;  // strides and distances as run_block's direct path
  const int64_t k_stride = nkeys > 1 ? t.k.stride[2] * es : 0, v_stride = nkeys > 1 ? t.v.stride[2] * es : 0;
  const int rv = tc.lane_rows / 16;
  QkLanesArgs qa{tc.st.qt.data(), element_ptr(t.k, tc.b, tc.w.kv_head, j0), k_stride, ws.s.data(), tc.passes,
                 next ? kB * k_stride : 0, ws.lanes_scratch.data()};
  if (nkeys < kB) {
    const int64_t row_bytes = s.head_dim * es;
    ws.k_rows.resize(size_t(kB * row_bytes));
    copy_rows_padded(qa.k, k_stride, nkeys, kB, row_bytes, ws.k_rows.data());
    qa.k = ws.k_rows.data(), qa.k_stride = row_bytes;
  }
  code_.fn<QkLanesFn>(rv == 1 ? kSlotQkLanes16 : kSlotQkLanes32)(&qa);
  softmax_block(tc, kb, bp);
  const PvLanesArgs pa{ws.s.data(), element_ptr(t.v, tc.b, tc.w.kv_head, j0), v_stride, tc.st.ot.data(),
                       tc.st.alpha.data(), ws.lanes_scratch.data(), tc.passes, nkeys, next ? kB * v_stride : 0};
  code_.fn<PvLanesFn>(rv == 1 ? kSlotPvLanes16 : kSlotPvLanes32)(&pa);
}

// The masked online softmax of one block's scores (ws.s): P, m, l and alpha.
void X86Kernel::softmax_block(TileContext& tc, int64_t kb, const BlockPlan& bp) const {
  const AttentionArgs& t = tc.a.t;
  const int64_t j0 = kb * kB;
  const SoftmaxArgs sa{tc.ws.s.data(), bp.rows, tc.st.m.data(), tc.st.l.data(), tc.st.alpha.data(), tc.rows,
                       int32_t(j0), float(j0), bp.kv_doc, bp.mask_col, std::min<int64_t>(kB, tc.a.skv - j0)};
  const bool additive_in_dtype =
      tc.custom && tc.custom->format == CustomFormat::additive && t.mask.type != ElemType::f32;
  code_.fn<SoftmaxFn>(softmax_slot(additive_in_dtype, !bp.full))(&sa);
}

// K block kb transposed to [D][64] and V block to [64][Dv_pad], f32, or in
// bf16 pairs for vdpbf16ps (convert.hpp); keys at or past kv_len are zeros
// and are never read from the tensors.
void X86Kernel::pack_block(const BoundArgs& a, const WorkItem& w, int64_t kb, char* kt, char* v,
                           std::vector<float>* tmp) const {
  const Spec& s = spec();
  const int D = s.head_dim, Dv = s.head_dim_v;
  const int64_t kv_len = a.kv_len(w.b);
  const int nkeys = int(std::clamp<int64_t>(kv_len - kb * kB, 0, kB));
  const char* k0 = nkeys > 0 ? element_ptr(a.t.k, w.b, w.kv_head, kb * kB) : nullptr;
  const char* v0 = nkeys > 0 ? element_ptr(a.t.v, w.b, w.kv_head, kb * kB) : nullptr;
  const int group = plan_.cols_micro;
  if (plan_.bf16_dot) {
    pack_k_pairs(k0, a.t.k.stride[2], a.t.k.stride[3], nkeys, D, group, reinterpret_cast<uint32_t*>(kt));
    pack_v_pairs(v0, a.t.v.stride[2], a.t.v.stride[3], nkeys, Dv, plan_.v_pack_cols(), group,
                 reinterpret_cast<uint32_t*>(v));
    return;
  }
  float* ktf = reinterpret_cast<float*>(kt);
  float* vf = reinterpret_cast<float*>(v);
  const int vcols = plan_.v_pack_cols();
  tmp->resize(size_t(std::max(D, vcols)));
  float* row = tmp->data();
  if (a.t.k.stride[3] == 1) {
    pack_kt_block(s.dtype, k0, a.t.k.stride[2], nkeys, D, group, ktf);
  } else {
    for (int jj = 0; jj < kB; ++jj) {
      if (jj < nkeys) load_row_f32(s.dtype, element_ptr(a.t.k, w.b, w.kv_head, kb * kB + jj), a.t.k.stride[3], D, 1.f, row);
      for (int d = 0; d < D; ++d) ktf[packed_index(D, group, d, jj)] = jj < nkeys ? row[d] : 0.f;
    }
  }
  for (int jj = 0; jj < kB; ++jj) {
    if (jj < nkeys) load_row_f32(s.dtype, element_ptr(a.t.v, w.b, w.kv_head, kb * kB + jj), a.t.v.stride[3], Dv, 1.f, row);
    std::fill(row + (jj < nkeys ? Dv : 0), row + vcols, 0.f);
    for (int c = 0; c < vcols; c += group) std::memcpy(vf + packed_index(kB, group, jj, c), row + c, size_t(group) * 4);
  }
}

}  // namespace attngen::x86
