// f16/bf16: what the tensor-core kernels (attention_fwd_mma.cu,
// attention_fwd_wgmma.cu) share. Both hold scores and outputs in the
// accumulator layout of m16n8 MMAs: a warp owns blocks of 16 rows, and for
// each n-tile of 8 columns a thread holds rows g and g + 8 (g = lane / 4),
// columns 2t and 2t + 1 (t = lane % 4) as elements 0, 1 (row g) and 2, 3
// (row g + 8). wgmma's m64nN accumulators are that layout for each of the
// warpgroup's 4 warps.

constexpr int AG_NT_S = AG_BLOCK_N / 8;   // n-tiles of a score row block
constexpr int AG_NT_O = AG_DV_PAD / 8;    // n-tiles of the output
constexpr int AG_KT_Q = AG_D_PAD / 16;    // k-steps of Q.K^T

// Per-element scoring of one warp's fragment of a key block for one 16-row
// block: rows g and g + 8 of it (row[0], row[1]), columns 2t, 2t + 1 of each n-tile.
template <bool full>
__device__ __forceinline__ void ag_score_fragment(float (&s)[AG_NT_S][4], const AttnParams& p, const AgEntry& e,
                                                  const AgRow* row, ag_i64 j0, int t) {
#pragma unroll
  for (int nt = 0; nt < AG_NT_S; ++nt)
#pragma unroll
    for (int x = 0; x < 4; ++x) {
      const ag_i64 j = j0 + nt * 8 + 2 * t + (x & 1);
      if (!full && j >= e.ctx.skv) {
        s[nt][x] = -AG_INF;
        continue;
      }
      s[nt][x] = ag_score<full>(s[nt][x], p, e, row[x >> 1], j);
    }
}

// Online softmax of one key block over a warp's MT row blocks: s becomes the
// probabilities, m and l (row 2 mt + rr = row g + 8 rr of block mt) advance,
// and alpha is each row's factor for what it accumulated before. Returns
// whether any row of the warp moved its maximum (else every alpha is 1). A
// row's 4 threads are one quad of lanes.
template <int MT>
__device__ __forceinline__ bool ag_softmax_rows(float (&s)[MT][AG_NT_S][4], float (&m)[2 * MT], float (&l)[2 * MT],
                                                float (&alpha)[2 * MT]) {
  bool moved = false;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int rr = 0; rr < 2; ++rr) {
      const int r = 2 * mt + rr;
      float mx = m[r];
#pragma unroll
      for (int n = 0; n < AG_NT_S; ++n) mx = fmaxf(mx, fmaxf(s[mt][n][2 * rr], s[mt][n][2 * rr + 1]));
      mx = ag_quad_max(mx);
      float base;
      alpha[r] = ag_softmax_step(m[r], mx, base);
      moved = moved || alpha[r] != 1.f;
      float sum = 0.f;
#pragma unroll
      for (int n = 0; n < AG_NT_S; ++n) {
        s[mt][n][2 * rr] = ag_prob(s[mt][n][2 * rr], base);
        s[mt][n][2 * rr + 1] = ag_prob(s[mt][n][2 * rr + 1], base);
        sum += s[mt][n][2 * rr] + s[mt][n][2 * rr + 1];
      }
      l[r] = l[r] * alpha[r] + ag_block_sum(sum, base);
    }
  return __any_sync(0xffffffffu, moved);
}

// o *= alpha per row, skipped when no row of the warp moved its maximum (once
// the maxima settle, most blocks).
template <int MT>
__device__ __forceinline__ void ag_rescale(float (&o)[MT][AG_NT_O][4], const float (&alpha)[2 * MT], bool moved) {
  if (!moved) return;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int n = 0; n < AG_NT_O; ++n)
#pragma unroll
      for (int x = 0; x < 4; ++x) o[mt][n][x] *= alpha[2 * mt + (x >> 1)];
}

// Both: the softmax of a block, then the rescale of what came before it.
template <int MT>
__device__ __forceinline__ void ag_softmax_fragments(float (&s)[MT][AG_NT_S][4], float (&o)[MT][AG_NT_O][4],
                                                     float (&m)[2 * MT], float (&l)[2 * MT]) {
  float alpha[2 * MT];
  const bool moved = ag_softmax_rows<MT>(s, m, l, alpha);
  ag_rescale<MT>(o, alpha, moved);
}

// The A fragment (16 rows x 16 keys, keys 16 kk ..) of P for O += P V: the
// accumulator fragments of two n-tiles are the A fragment of the next MMA.
__device__ __forceinline__ void ag_p_fragment(unsigned (&a)[4], const float (&s)[AG_NT_S][4], int kk) {
  a[0] = ag_pack2(s[2 * kk][0], s[2 * kk][1]);
  a[1] = ag_pack2(s[2 * kk][2], s[2 * kk][3]);
  a[2] = ag_pack2(s[2 * kk + 1][0], s[2 * kk + 1][1]);
  a[3] = ag_pack2(s[2 * kk + 1][2], s[2 * kk + 1][3]);
}

// Sum each row over its quad, normalise, store O and the LSE, or with
// split-KV the split's partial results into `part` (rows past Sq's extent are
// not ours).
template <int MT, bool SPLIT>
__device__ __forceinline__ void ag_store_fragments(const AttnParams& p, const AgEntry& e, const AgRow* row,
                                                   const float (&o)[MT][AG_NT_O][4], const float (&m)[2 * MT],
                                                   const float (&l)[2 * MT], int t, float* part) {
  const AgOut out = ag_out(p, e);
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int rr = 0; rr < 2; ++rr) {
      const int r = 2 * mt + rr;
      const float lsum = ag_quad_sum(l[r]);
      const ag_i64 i = row[r].i;
      if (i >= p.sq) continue;
      const bool valid = i < e.ctx.sq;
      const float inv = ag_row_scale(lsum, valid);
      if (SPLIT) {
        const AgPartial part_row = ag_partial(p, part, e, row[r]);
#pragma unroll
        for (int n = 0; n < AG_NT_O; ++n) {
          const int c = n * 8 + 2 * t;
          if (c < AG_HEAD_DIM_V) part_row.o[c] = valid ? o[mt][n][2 * rr] * inv : 0.f;
          if (c + 1 < AG_HEAD_DIM_V) part_row.o[c + 1] = valid ? o[mt][n][2 * rr + 1] * inv : 0.f;
        }
        if (t == 0) *part_row.lse = ag_row_lse(m[r], lsum, valid);
        continue;
      }
      ag_elem* dst = out.row(row[r]);
#pragma unroll
      for (int n = 0; n < AG_NT_O; ++n) {
        const int c = n * 8 + 2 * t;
        const float v0 = valid ? o[mt][n][2 * rr] * inv : 0.f, v1 = valid ? o[mt][n][2 * rr + 1] * inv : 0.f;
        if (out.pairs && c + 1 < AG_HEAD_DIM_V) {
          *reinterpret_cast<unsigned*>(dst + c) = ag_pack2(v0, v1);
        } else {
          if (c < AG_HEAD_DIM_V) dst[c * out.col_str] = ag_from_float(v0);
          if (c + 1 < AG_HEAD_DIM_V) dst[(c + 1) * out.col_str] = ag_from_float(v1);
        }
      }
      if (t == 0) ag_store_lse(p, e, row[r], ag_row_lse(m[r], lsum, valid));
    }
}
