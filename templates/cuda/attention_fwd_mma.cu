// f16/bf16 on tensor cores with mma.sync m16n8k16 (sm_80 and newer),
// FlashAttention-2 style: f32 accumulation; a warp owns AG_WARP_M_TILES blocks
// of 16 rows, so each K and V fragment it loads feeds that many MMAs; cp.async
// copies into shared memory, ldmatrix fragment loads.

// Rows are `pitch` elements apart in shared memory; pitch = cols + 8 (16 bytes
// more than a whole number of 32-byte units) puts the 8 rows of an ldmatrix
// into 8 different bank groups.
constexpr int AG_Q_PITCH = AG_D_PAD + 8;
constexpr int AG_V_PITCH = AG_DV_PAD + 8;
constexpr int AG_MT = AG_WARP_M_TILES;  // 16-row blocks per warp: each K/V fragment feeds AG_MT MMAs
typedef AgPitched<AG_D_PAD, AG_Q_PITCH> AgQkLayout;
typedef AgPitched<AG_DV_PAD, AG_V_PITCH> AgVLayout;

// The A fragment (16 rows x 16 d) of Q for row block `mt` of the warp at k-step kt.
__device__ __forceinline__ void ag_load_q_fragment(unsigned (&a)[4], const ag_elem* q_s, int wrow, int mt, int kt,
                                                   int lane) {
  ag_ldmatrix_x4(a, q_s + (wrow + mt * 16 + (lane >> 3 & 1) * 8 + (lane & 7)) * AG_Q_PITCH + kt * 16 + (lane >> 4) * 8);
}

// Block nb's V, after K of nb (and Q) landed and every warp is done with V
// of nb - 1; then K of nb + 1, after V of nb landed and every warp is done
// with K of nb: the copies and barriers of a key step.
__device__ __forceinline__ void ag_copy_v(ag_elem* v_s, const AgViews& view, ag_i64 j0, ag_i64 skv) {
  ag_cp_async_wait_committed();
  __syncthreads();
  ag_load_tile<AG_BLOCK_N, AG_HEAD_DIM_V, AG_DV_PAD, AgVLayout>(v_s, view.v, j0, skv);
  ag_cp_async_commit();
}
__device__ __forceinline__ void ag_copy_next_k(ag_elem* k_s, const AgViews& view, ag_i64 j0, ag_i64 skv, bool more) {
  ag_cp_async_wait_committed();
  __syncthreads();
  if (more) {
    ag_load_tile<AG_BLOCK_N, AG_HEAD_DIM, AG_D_PAD, AgQkLayout>(k_s, view.k, j0 + AG_BLOCK_N, skv);
    ag_cp_async_commit();
  }
}
// A warp whose rows are all past the entry's valid ones (the other warps of
// a decoding step's tile, a sequence's last tile) copies its share and meets
// the barriers, but multiplies nothing. Not inlined: in the kernel body, even
// as a loop of its own, it cost ptxas 12-20 registers.
__device__ __noinline__ void ag_copy_only(ag_elem* k_s, ag_elem* v_s, const AgViews& view, ag_block nb_begin,
                                          ag_block nb_end, ag_i64 skv) {
  for (ag_block nb = nb_begin; nb < nb_end; ++nb) {
    ag_copy_v(v_s, view, ag_block_key(nb), skv);
    ag_copy_next_k(k_s, view, ag_block_key(nb), skv, nb + 1 < nb_end);
  }
}

// The kernel body; attention_entries.cu makes the entry points.
template <bool SPLIT>
__device__ __forceinline__ void ag_attention(const AttnParams& p, float* part) {
  extern __shared__ __align__(128) unsigned char ag_smem[];
  ag_elem* q_s = reinterpret_cast<ag_elem*>(ag_smem);
  ag_elem* k_s = q_s + AG_BLOCK_M * AG_Q_PITCH;
  ag_elem* v_s = k_s + AG_BLOCK_N * AG_Q_PITCH;

  const AgTile tile = ag_tile<SPLIT>(p);
  const AgEntry& e = tile.e;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;
  const int wrow = warp * 16 * AG_MT;  // the warp's first row in the tile

  // row[2 mt + rr]: row g + 8 rr of the warp's row block mt.
  AgRow row[2 * AG_MT];
#pragma unroll
  for (int r = 0; r < 2 * AG_MT; ++r) row[r] = ag_row(p, e, tile.x0 + wrow + (r >> 1) * 16 + (r & 1) * 8 + g);

  float o[AG_MT][AG_NT_O][4];
#pragma unroll
  for (int mt = 0; mt < AG_MT; ++mt)
#pragma unroll
    for (int n = 0; n < AG_NT_O; ++n) o[mt][n][0] = o[mt][n][1] = o[mt][n][2] = o[mt][n][3] = 0.f;
  float m[2 * AG_MT], l[2 * AG_MT];  // running maximum (score units) and sum of each row
#pragma unroll
  for (int r = 0; r < 2 * AG_MT; ++r) m[r] = -AG_INF, l[r] = 0.f;

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
#if AG_Q_IN_REGISTERS
      unsigned qf[AG_MT][AG_KT_Q][4];
#endif
      for (ag_block nb = tile.nb_begin; nb < tile.nb_end; ++nb) {
        const ag_i64 j0 = ag_block_key(nb);
        ag_copy_v(v_s, view, j0, e.ctx.skv);

        // S = Q K^T for the warp's rows.
        float s[AG_MT][AG_NT_S][4];
#pragma unroll
        for (int mt = 0; mt < AG_MT; ++mt)
#pragma unroll
          for (int n = 0; n < AG_NT_S; ++n) s[mt][n][0] = s[mt][n][1] = s[mt][n][2] = s[mt][n][3] = 0.f;
#pragma unroll
        for (int kt = 0; kt < AG_KT_Q; ++kt) {
          unsigned a[AG_MT][4];
#pragma unroll
          for (int mt = 0; mt < AG_MT; ++mt) {
#if AG_Q_IN_REGISTERS
            if (nb == tile.nb_begin) ag_load_q_fragment(qf[mt][kt], q_s, wrow, mt, kt, lane);
            a[mt][0] = qf[mt][kt][0], a[mt][1] = qf[mt][kt][1], a[mt][2] = qf[mt][kt][2], a[mt][3] = qf[mt][kt][3];
#else
            ag_load_q_fragment(a[mt], q_s, wrow, mt, kt, lane);
#endif
          }
#pragma unroll
          for (int n2 = 0; n2 < AG_NT_S / 2; ++n2) {
            unsigned b[4];  // keys n2*16 .. +15, d kt*16 .. +15
            ag_ldmatrix_x4(b, k_s + (n2 * 16 + (lane >> 4) * 8 + (lane & 7)) * AG_Q_PITCH + kt * 16 +
                                  (lane >> 3 & 1) * 8);
#pragma unroll
            for (int mt = 0; mt < AG_MT; ++mt) {
              ag_mma(s[mt][2 * n2], a[mt], b[0], b[1]);
              ag_mma(s[mt][2 * n2 + 1], a[mt], b[2], b[3]);
            }
          }
        }

        const bool full = nb >= tile.full_begin && nb < tile.full_end;
#pragma unroll
        for (int mt = 0; mt < AG_MT; ++mt) {
          if (full)
            ag_score_fragment<true>(s[mt], p, e, row + 2 * mt, j0, t);
          else
            ag_score_fragment<false>(s[mt], p, e, row + 2 * mt, j0, t);
        }
        ag_softmax_fragments<AG_MT>(s, o, m, l);

        ag_copy_next_k(k_s, view, j0, e.ctx.skv, nb + 1 < tile.nb_end);

        // O += P V.
#pragma unroll
        for (int kk = 0; kk < AG_BLOCK_N / 16; ++kk) {
          unsigned a[AG_MT][4];
#pragma unroll
          for (int mt = 0; mt < AG_MT; ++mt) ag_p_fragment(a[mt], s[mt], kk);
#pragma unroll
          for (int n2 = 0; n2 < AG_NT_O / 2; ++n2) {
            unsigned b[4];  // keys kk*16 .. +15, dv n2*16 .. +15
            ag_ldmatrix_x4_trans(b, v_s + (kk * 16 + (lane >> 3 & 1) * 8 + (lane & 7)) * AG_V_PITCH + n2 * 16 +
                                        (lane >> 4) * 8);
#pragma unroll
            for (int mt = 0; mt < AG_MT; ++mt) {
              ag_mma(o[mt][2 * n2], a[mt], b[0], b[1]);
              ag_mma(o[mt][2 * n2 + 1], a[mt], b[2], b[3]);
            }
          }
        }
      }
    }
  }

  ag_store_fragments<AG_MT, SPLIT>(p, e, row, o, m, l, t, part);
}
