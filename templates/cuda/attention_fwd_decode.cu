// f16/bf16 decoding on mma.sync (ATTNGEN_CUDA_TILE=MxNkW): a tile of M = 16
// or 32 rows (a decoding step's queries; with GQA packed, the group's heads
// of each) that every warp owns whole, while the W warps split the keys: a
// step copies W key blocks of N keys and warp w runs the online softmax of
// block w of each, with a maximum and a sum of its own. At the end the warps'
// states are merged through shared memory, as split-KV's shares are:
//   M = max_w m_w,  f_w = exp(m_w - M),  O = sum_w f_w O_w / sum_w f_w l_w.
// The default tile gives such a step one warp with valid rows among 8 (the
// others copy and wait), one block per SM; here every warp multiplies.

// The warps' states merged and stored by warp 0. Shared memory (the K and V
// tiles, free once every warp is done with them): the warps' row maxima, then
// their sums, then their O rows scaled by f_w (f32, rows AG_DV_PAD + 8 apart).
template <bool SPLIT>
__device__ __forceinline__ void ag_merge_key_warps(const AttnParams& p, const AgEntry& e, const AgRow* row,
                                                   float (&o)[AG_MT][AG_NT_O][4], const float (&m)[2 * AG_MT],
                                                   const float (&l)[2 * AG_MT], float* buf, int warp, int g, int t,
                                                   float* part) {
  constexpr int kPitch = AG_DV_PAD + 8;
  float* maxima = buf;
  float* sums = maxima + AG_KEY_WARPS * AG_BLOCK_M;
  float* rows = sums + AG_KEY_WARPS * AG_BLOCK_M;
  __syncthreads();  // every warp is done with K and V
#pragma unroll
  for (int r = 0; r < 2 * AG_MT; ++r) {
    const int tr = (r >> 1) * 16 + (r & 1) * 8 + g;  // the row in the tile
    const float lsum = ag_quad_sum(l[r]);
    if (t == 0) maxima[warp * AG_BLOCK_M + tr] = m[r], sums[warp * AG_BLOCK_M + tr] = lsum;
  }
  __syncthreads();
  float mx[2 * AG_MT], total[2 * AG_MT];
#pragma unroll
  for (int r = 0; r < 2 * AG_MT; ++r) {
    const int tr = (r >> 1) * 16 + (r & 1) * 8 + g;
    mx[r] = -AG_INF;
    for (int w = 0; w < AG_KEY_WARPS; ++w) mx[r] = fmaxf(mx[r], maxima[w * AG_BLOCK_M + tr]);
    // A warp no key of the row reached (m_w = -inf) adds nothing; NaN in a
    // warp's sum or O (corrupt data, an overflowing score) reaches the row.
    float sum = 0.f, own = 0.f;
    for (int w = 0; w < AG_KEY_WARPS; ++w) {
      const float mw = maxima[w * AG_BLOCK_M + tr];
      const float f = mw == -AG_INF ? 0.f : ag_exp2((mw - mx[r]) * AG_EXP2_SCALE);
      sum += f * sums[w * AG_BLOCK_M + tr];
      if (w == warp) own = f;
    }
    total[r] = t == 0 ? sum : 0.f;  // ag_store_fragments sums a row over its quad
#pragma unroll
    for (int n = 0; n < AG_NT_O; ++n) {
      float* dst = rows + (warp * AG_BLOCK_M + tr) * kPitch + n * 8 + 2 * t;
      dst[0] = o[r >> 1][n][2 * (r & 1)] * own;
      dst[1] = o[r >> 1][n][2 * (r & 1) + 1] * own;
    }
  }
  __syncthreads();
  if (warp != 0) return;
#pragma unroll
  for (int r = 0; r < 2 * AG_MT; ++r) {
    const int tr = (r >> 1) * 16 + (r & 1) * 8 + g;
#pragma unroll
    for (int n = 0; n < AG_NT_O; ++n)
#pragma unroll
      for (int x = 0; x < 2; ++x) {
        float acc = 0.f;
        for (int w = 0; w < AG_KEY_WARPS; ++w) acc += rows[(w * AG_BLOCK_M + tr) * kPitch + n * 8 + 2 * t + x];
        o[r >> 1][n][2 * (r & 1) + x] = acc;
      }
  }
  ag_store_fragments<AG_MT, SPLIT>(p, e, row, o, mx, total, t, part);
}

// The kernel body; attention_entries.cu makes the entry points.
template <bool SPLIT>
__device__ __forceinline__ void ag_attention(const AttnParams& p, float* part) {
  const auto [q_s, k_s, v_s, warp, lane, g, t] = ag_mma_thread();
  const AgTile tile = ag_tile<SPLIT>(p);
  const AgEntry& e = tile.e;

  AgRow row[2 * AG_MT];  // every warp: all of the tile's rows
  float o[AG_MT][AG_NT_O][4];
  float m[2 * AG_MT], l[2 * AG_MT];  // the warp's running maximum (score units) and sum of each row
  ag_init_rows(row, o, m, l, p, tile, 0, g);

  if (tile.nb_begin < tile.nb_end) {
    const AgViews view = ag_views(p, e);
    // Keys of the tile's (or split's) blocks: a step past them copies nothing more.
    const ag_i64 end = ag_min(e.ctx.skv, ag_block_key(tile.nb_end));
    ag_load_tile<AG_BLOCK_M, AG_HEAD_DIM, AG_D_PAD, AgQkLayout>(q_s, view.q, tile.x0, tile.x_end);
    ag_load_tile<AG_STEP_N, AG_HEAD_DIM, AG_D_PAD, AgQkLayout>(k_s, view.k, ag_block_key(tile.nb_begin), end);
    ag_cp_async_commit();

    // Each step: wait for K of blocks nb0 .. nb0 + W - 1 (and Q), barrier,
    // copy their V; each warp Q K^T and the softmax of its block; wait for V,
    // barrier, copy the next step's K; P V. A warp past the last block (the
    // last step of a range that is not a multiple of W) meets the barriers only.
    unsigned qf[AG_MT][AG_KT_Q][4];  // Q's fragments, where they stay in registers
    for (ag_block nb0 = tile.nb_begin; nb0 < tile.nb_end; nb0 += AG_KEY_WARPS) {
      const ag_block nb = nb0 + warp;
      const bool mine = nb < tile.nb_end;
      const ag_i64 j0 = ag_block_key(nb);
      ag_copy_v(v_s, view, ag_block_key(nb0), end);
      float s[AG_MT][AG_NT_S][4];
      if (mine) {
        ag_mma_qk(s, qf, q_s, k_s + warp * AG_BLOCK_N * AG_Q_PITCH, 0, lane, nb0 == tile.nb_begin);
        ag_score_softmax(s, o, m, l, p, e, row, j0, t, nb >= tile.full_begin && nb < tile.full_end);
      }
      ag_copy_next_k(k_s, view, ag_block_key(nb0 + AG_KEY_WARPS), end, nb0 + AG_KEY_WARPS < tile.nb_end);
      if (mine) ag_mma_pv(o, s, v_s + warp * AG_BLOCK_N * AG_V_PITCH, lane);
    }
  }

  ag_merge_key_warps<SPLIT>(p, e, row, o, m, l, reinterpret_cast<float*>(k_s), warp, g, t, part);
}
