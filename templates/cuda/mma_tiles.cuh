// f16/bf16 with mma.sync m16n8k16 (sm_80 and newer): what the two kernel
// bodies on it share, attention_fwd_mma.cu (warps split a tile's rows) and
// attention_fwd_decode.cu (warps split its keys). Tiles sit in shared memory
// as rows `pitch` elements apart: pitch = cols + 8 (16 bytes more than a whole
// number of 32-byte units) puts the 8 rows of an ldmatrix into 8 different
// bank groups. A warp owns AG_WARP_M_TILES blocks of 16 rows, so each K and V
// fragment it loads feeds that many MMAs.

constexpr int AG_Q_PITCH = AG_D_PAD + 8;
constexpr int AG_V_PITCH = AG_DV_PAD + 8;
constexpr int AG_MT = AG_WARP_M_TILES;  // 16-row blocks per warp: each K/V fragment feeds AG_MT MMAs
// Keys one step of the key loop copies: a key block, or with key-split warps
// (AG_KEY_WARPS > 1) a block for each warp.
constexpr int AG_STEP_N = AG_KEY_WARPS * AG_BLOCK_N;
typedef AgPitched<AG_D_PAD, AG_Q_PITCH> AgQkLayout;
typedef AgPitched<AG_DV_PAD, AG_V_PITCH> AgVLayout;

// The block's tiles in shared memory (Q, then K and V of a step) and the
// thread's place: its warp and lane, and in the accumulator layout its rows
// g = lane / 4 (and g + 8) and columns 2t, 2t + 1 (t = lane % 4).
struct AgMmaThread {
  ag_elem *q_s, *k_s, *v_s;
  int warp, lane, g, t;
};
__device__ __forceinline__ AgMmaThread ag_mma_thread() {
  extern __shared__ __align__(128) unsigned char ag_smem[];
  AgMmaThread x;
  x.q_s = reinterpret_cast<ag_elem*>(ag_smem);
  x.k_s = x.q_s + AG_BLOCK_M * AG_Q_PITCH;
  x.v_s = x.k_s + AG_STEP_N * AG_Q_PITCH;
  x.warp = threadIdx.x / 32, x.lane = threadIdx.x % 32;
  x.g = x.lane / 4, x.t = x.lane % 4;
  return x;
}

// The A fragment (16 rows x 16 d) of Q for row block `mt` of the warp at k-step kt.
__device__ __forceinline__ void ag_load_q_fragment(unsigned (&a)[4], const ag_elem* q_s, int wrow, int mt, int kt,
                                                   int lane) {
  ag_ldmatrix_x4(a, q_s + (wrow + mt * 16 + (lane >> 3 & 1) * 8 + (lane & 7)) * AG_Q_PITCH + kt * 16 + (lane >> 4) * 8);
}

// A step's V (keys j0 .., valid below `end`), after its K (and Q) landed and
// every warp is done with the previous step's V; then the next step's K
// (keys next ..), after V landed and every warp is done with K: the copies and
// barriers of a key step.
__device__ __forceinline__ void ag_copy_v(ag_elem* v_s, const AgViews& view, ag_i64 j0, ag_i64 end) {
  ag_cp_async_wait_committed();
  __syncthreads();
  ag_load_tile<AG_STEP_N, AG_HEAD_DIM_V, AG_DV_PAD, AgVLayout>(v_s, view.v, j0, end);
  ag_cp_async_commit();
}
__device__ __forceinline__ void ag_copy_next_k(ag_elem* k_s, const AgViews& view, ag_i64 next, ag_i64 end, bool more) {
  ag_cp_async_wait_committed();
  __syncthreads();
  if (more) {
    ag_load_tile<AG_STEP_N, AG_HEAD_DIM, AG_D_PAD, AgQkLayout>(k_s, view.k, next, end);
    ag_cp_async_commit();
  }
}

// S = Q K^T for the warp's rows (from row `wrow` of q_s) against the AG_BLOCK_N
// keys at k_s. With Q in registers, its fragments are loaded into qf when
// `load_q` (the warp's first key block) and read from there.
__device__ __forceinline__ void ag_mma_qk(float (&s)[AG_MT][AG_NT_S][4], unsigned (&qf)[AG_MT][AG_KT_Q][4],
                                          const ag_elem* q_s, const ag_elem* k_s, int wrow, int lane, bool load_q) {
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
      if (load_q) ag_load_q_fragment(qf[mt][kt], q_s, wrow, mt, kt, lane);
      a[mt][0] = qf[mt][kt][0], a[mt][1] = qf[mt][kt][1], a[mt][2] = qf[mt][kt][2], a[mt][3] = qf[mt][kt][3];
#else
      ag_load_q_fragment(a[mt], q_s, wrow, mt, kt, lane);
#endif
    }
#pragma unroll
    for (int n2 = 0; n2 < AG_NT_S / 2; ++n2) {
      unsigned b[4];  // keys n2*16 .. +15, d kt*16 .. +15
      ag_ldmatrix_x4(b, k_s + (n2 * 16 + (lane >> 4) * 8 + (lane & 7)) * AG_Q_PITCH + kt * 16 + (lane >> 3 & 1) * 8);
#pragma unroll
      for (int mt = 0; mt < AG_MT; ++mt) {
        ag_mma(s[mt][2 * n2], a[mt], b[0], b[1]);
        ag_mma(s[mt][2 * n2 + 1], a[mt], b[2], b[3]);
      }
    }
  }
}

// Scores of the warp's fragments of key block j0 .. (`full`: allowed for every
// row by the index masks), then the online softmax step: s becomes P.
__device__ __forceinline__ void ag_score_softmax(float (&s)[AG_MT][AG_NT_S][4], float (&o)[AG_MT][AG_NT_O][4],
                                                 float (&m)[2 * AG_MT], float (&l)[2 * AG_MT], const AttnParams& p,
                                                 const AgEntry& e, const AgRow* row, ag_i64 j0, int t, bool full) {
#pragma unroll
  for (int mt = 0; mt < AG_MT; ++mt) {
    if (full)
      ag_score_fragment<true>(s[mt], p, e, row + 2 * mt, j0, t);
    else
      ag_score_fragment<false>(s[mt], p, e, row + 2 * mt, j0, t);
  }
  ag_softmax_fragments<AG_MT>(s, o, m, l);
}

// O += P V for the warp's rows, P the probabilities of the AG_BLOCK_N keys at v_s.
__device__ __forceinline__ void ag_mma_pv(float (&o)[AG_MT][AG_NT_O][4], const float (&s)[AG_MT][AG_NT_S][4],
                                          const ag_elem* v_s, int lane) {
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

// The warp's rows: row[2 mt + rr] is row g + 8 rr of its row block mt, which
// starts at tile row wrow + 16 mt. Accumulators: O = 0, m = -inf, l = 0.
__device__ __forceinline__ void ag_init_rows(AgRow (&row)[2 * AG_MT], float (&o)[AG_MT][AG_NT_O][4],
                                             float (&m)[2 * AG_MT], float (&l)[2 * AG_MT], const AttnParams& p,
                                             const AgTile& tile, int wrow, int g) {
#pragma unroll
  for (int r = 0; r < 2 * AG_MT; ++r) {
    row[r] = ag_row(p, tile.e, tile.x0 + wrow + (r >> 1) * 16 + (r & 1) * 8 + g);
    m[r] = -AG_INF, l[r] = 0.f;
  }
#pragma unroll
  for (int mt = 0; mt < AG_MT; ++mt)
#pragma unroll
    for (int n = 0; n < AG_NT_O; ++n) o[mt][n][0] = o[mt][n][1] = o[mt][n][2] = o[mt][n][3] = 0.f;
}
