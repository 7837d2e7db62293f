// f16/bf16 on tensor cores with mma.sync m16n8k16 (sm_80 and newer),
// FlashAttention-2 style: f32 accumulation; the warps split the tile's rows,
// AG_WARP_M_TILES blocks of 16 each, and walk its key blocks together;
// cp.async copies into shared memory, ldmatrix fragment loads (mma_tiles.cuh).

// A warp whose rows are all past the entry's valid ones (the other warps of
// a decoding step's tile, a sequence's last tile) copies its share and meets
// the barriers, but multiplies nothing. Not inlined: in the kernel body, even
// as a loop of its own, it cost ptxas 12-20 registers.
__device__ __noinline__ void ag_copy_only(ag_elem* k_s, ag_elem* v_s, const AgViews& view, ag_block nb_begin,
                                          ag_block nb_end, ag_i64 skv) {
  for (ag_block nb = nb_begin; nb < nb_end; ++nb) {
    ag_copy_v(v_s, view, ag_block_key(nb), skv);
    ag_copy_next_k(k_s, view, ag_block_key(nb + 1), skv, nb + 1 < nb_end);
  }
}

// The kernel body; attention_entries.cu makes the entry points.
template <bool SPLIT>
__device__ __forceinline__ void ag_attention(const AttnParams& p, float* part) {
  const auto [q_s, k_s, v_s, warp, lane, g, t] = ag_mma_thread();
  const AgTile tile = ag_tile<SPLIT>(p);
  const AgEntry& e = tile.e;
  const int wrow = warp * 16 * AG_MT;  // the warp's first row in the tile

  AgRow row[2 * AG_MT];
  float o[AG_MT][AG_NT_O][4];
  float m[2 * AG_MT], l[2 * AG_MT];  // running maximum (score units) and sum of each row
  ag_init_rows(row, o, m, l, p, tile, wrow, g);

  if (tile.nb_begin < tile.nb_end) {
    const AgViews view = ag_views(p, e);
    ag_load_tile<AG_BLOCK_M, AG_HEAD_DIM, AG_D_PAD, AgQkLayout>(q_s, view.q, tile.x0, tile.x_end);
    ag_load_tile<AG_BLOCK_N, AG_HEAD_DIM, AG_D_PAD, AgQkLayout>(k_s, view.k, ag_block_key(tile.nb_begin), e.ctx.skv);
    ag_cp_async_commit();

    // Each step: wait for K of block nb (and Q), barrier, copy V of nb; Q K^T
    // and the softmax; wait for V, barrier, copy K of nb + 1; P V.
    if (tile.x0 + wrow >= tile.x_end) {
      ag_copy_only(k_s, v_s, view, tile.nb_begin, tile.nb_end, e.ctx.skv);  // its rows store zeros or nothing
    } else {
      unsigned qf[AG_MT][AG_KT_Q][4];  // Q's fragments, where they stay in registers
      for (ag_block nb = tile.nb_begin; nb < tile.nb_end; ++nb) {
        const ag_i64 j0 = ag_block_key(nb);
        ag_copy_v(v_s, view, j0, e.ctx.skv);
        float s[AG_MT][AG_NT_S][4];
        ag_mma_qk(s, qf, q_s, k_s, wrow, lane, nb == tile.nb_begin);
        ag_score_softmax(s, o, m, l, p, e, row, j0, t, nb >= tile.full_begin && nb < tile.full_end);
        ag_copy_next_k(k_s, view, j0 + AG_BLOCK_N, e.ctx.skv, nb + 1 < tile.nb_end);
        ag_mma_pv(o, s, v_s, lane);
      }
    }
  }

  ag_store_fragments<AG_MT, SPLIT>(p, e, row, o, m, l, t, part);
}
