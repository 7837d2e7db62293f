// f16/bf16 on Hopper's warpgroup MMA (wgmma.mma_async, sm_90a): each
// warpgroup of 4 warps owns 64 query rows; S = Q K^T with Q and K read by the
// tensor cores from shared memory (m64nBLOCK_Nk16), O += P V with P from
// registers (the scores' accumulators, converted) and V from shared memory
// (m64nDVk16, V read N-major). Scores, softmax and stores are the mma.sync
// kernel's (fragments.cuh): wgmma's accumulators per warp are the m16n8
// layout.
//
// Shared memory holds tiles as wgmma's "core matrices" without swizzle: 8 rows
// x 16 bytes stored as 128 contiguous bytes, a row group's cores along the
// columns, then the next 8 rows. One layout serves Q and K (K-major operands:
// rows = M or N, columns = k) and V (N-major operand: rows = k, columns = N).
// The rendered prelude supplies ag_wgmma_qk and ag_wgmma_pv for this spec's
// BLOCK_N and DV_PAD (an instruction's accumulators are its operands).
//
// Two key loops (AG_WGMMA_PIPELINED): the plain one issues each product and
// waits for it; the pipelined one keeps Q K^T of block n + 1 and P V of block
// n in flight together while the softmax of block n + 1 runs (the overlap of
// FlashAttention-3's intra-warpgroup pipelining), with K and V double-buffered.
// A third schedule, warp-specialised (AG_WGMMA_SPECIALIZED), runs the
// pipelined loop in consumer warpgroups fed by a producer warpgroup:
// attention_fwd_wgmma_ws.cu, after this file.

template <int COLS_PAD>
struct AgCoreMatrices {
  __device__ static int at(int r, int col) {
    return ((r >> 3) * (COLS_PAD / 8) + (col >> 3)) * 64 + (r & 7) * 8 + (col & 7);
  }
  __device__ static void chunk(int c, int& r, int& col) {  // 8 chunks = one core matrix
    const int core = c >> 3;
    r = core / (COLS_PAD / 8) * 8 + (c & 7);
    col = core % (COLS_PAD / 8) * 8;
  }
};
typedef AgCoreMatrices<AG_D_PAD> AgQkLayout;
typedef AgCoreMatrices<AG_DV_PAD> AgVLayout;

// A shared-memory matrix descriptor without swizzle: start address, leading
// byte offset (K-major: between the two core matrices of a k16 step; N-major:
// between groups of 8 k rows) and stride byte offset (K-major: between groups
// of 8 rows; N-major: between groups of 8 columns).
__device__ __forceinline__ unsigned long long ag_desc(const void* smem, unsigned lead_bytes, unsigned stride_bytes) {
  return (unsigned long long)((ag_smem_u32(smem) & 0x3ffffu) >> 4) | (unsigned long long)(lead_bytes >> 4) << 16 |
         (unsigned long long)(stride_bytes >> 4) << 32;
}

constexpr int AG_CORE_BYTES = 128;
constexpr int AG_K_TILE = AG_BLOCK_N * AG_D_PAD;   // elements of one K buffer
constexpr int AG_V_TILE = AG_BLOCK_N * AG_DV_PAD;  // elements of one V buffer
constexpr int AG_PV_STEPS = AG_BLOCK_N / 16;

// Descriptors of the operands, in core matrices (a k16 step is two cores
// along the row; descriptors count 16-byte units).
// Q of the warpgroup (its 64 rows are 8 row groups) and K: K-major, the two
// cores of a step AG_CORE_BYTES apart, row groups D_PAD * 16 bytes apart.
__device__ __forceinline__ unsigned long long ag_qk_desc(const ag_elem* tile) {
  return ag_desc(tile, AG_CORE_BYTES, AG_D_PAD / 8 * AG_CORE_BYTES);
}
// V, N-major: groups of 8 keys DV_PAD * 16 bytes apart, groups of 8 columns one core apart.
__device__ __forceinline__ unsigned long long ag_v_desc(const ag_elem* tile) {
  return ag_desc(tile, AG_DV_PAD / 8 * AG_CORE_BYTES, AG_CORE_BYTES);
}
__device__ __forceinline__ void ag_issue_qk(float (&s)[AG_NT_S][4], unsigned long long q_desc,
                                            unsigned long long k_desc) {
#pragma unroll
  for (int kt = 0; kt < AG_KT_Q; ++kt) {
    const unsigned long long step = 2 * kt * AG_CORE_BYTES >> 4;
    ag_wgmma_qk(s, q_desc + step, k_desc + step, kt > 0);  // the first step overwrites S
  }
  ag_wgmma_commit();
}
__device__ __forceinline__ void ag_issue_pv(float (&o)[AG_NT_O][4], const unsigned (&a)[AG_PV_STEPS][4],
                                            unsigned long long v_desc) {
#pragma unroll
  for (int kk = 0; kk < AG_PV_STEPS; ++kk)
    ag_wgmma_pv(o, a[kk], v_desc + (2 * kk * (AG_DV_PAD / 8) * AG_CORE_BYTES >> 4));
  ag_wgmma_commit();
}
__device__ __forceinline__ void ag_p_fragments(unsigned (&a)[AG_PV_STEPS][4], const float (&s)[AG_NT_S][4]) {
#pragma unroll
  for (int kk = 0; kk < AG_PV_STEPS; ++kk) ag_p_fragment(a[kk], s, kk);
}
__device__ __forceinline__ void ag_score_block(float (&s)[AG_NT_S][4], const AttnParams& p, const AgTile& tile,
                                               const AgRow* row, ag_block nb, int t) {
  if (nb >= tile.full_begin && nb < tile.full_end)
    ag_score_fragment<true>(s, p, tile.e, row, ag_block_key(nb), t);
  else
    ag_score_fragment<false>(s, p, tile.e, row, ag_block_key(nb), t);
}

struct AgWarpState {  // what a warp carries along the key loop
  AgRow row[2];       // its rows g and g + 8
  float o[1][AG_NT_O][4];
  float m[2], l[2];   // running maximum (score units) and sum of each row
};

#if !AG_WGMMA_PIPELINED
// One K and one V buffer: V of block n loads during Q K^T and the softmax of
// block n, K of block n + 1 during its P V.
__device__ __forceinline__ void ag_key_loop(const AttnParams& p, const AgTile& tile, AgWarpState& w, ag_elem* q_s,
                                            int warp, int t) {
  const AgEntry& e = tile.e;
  ag_elem* k_s = q_s + AG_BLOCK_M * AG_D_PAD;
  ag_elem* v_s = k_s + AG_K_TILE;
  const AgViews view = ag_views(p, e);
  ag_load_tile<AG_BLOCK_M, AG_HEAD_DIM, AG_D_PAD, AgQkLayout>(q_s, view.q, tile.x0, tile.x_end);
  ag_load_tile<AG_BLOCK_N, AG_HEAD_DIM, AG_D_PAD, AgQkLayout>(k_s, view.k, ag_block_key(tile.nb_begin), e.ctx.skv);
  ag_cp_async_commit();
  const unsigned long long q_desc = ag_qk_desc(q_s + (warp / 4) * 64 * AG_D_PAD);

  for (ag_block nb = tile.nb_begin; nb < tile.nb_end; ++nb) {
    const ag_i64 j0 = ag_block_key(nb);
    ag_cp_async_wait_committed();  // K (and Q) of this block
    ag_fence_proxy_async();
    __syncthreads();  // ... seen by all, and every warpgroup done with V of the last block
    ag_load_tile<AG_BLOCK_N, AG_HEAD_DIM_V, AG_DV_PAD, AgVLayout>(v_s, view.v, j0, e.ctx.skv);
    ag_cp_async_commit();

    float s[1][AG_NT_S][4];
    ag_wgmma_fence();
    ag_issue_qk(s[0], q_desc, ag_qk_desc(k_s));
    ag_wgmma_wait<0>();
    ag_pin(s[0]);
    ag_score_block(s[0], p, tile, w.row, nb, t);
    ag_softmax_fragments<1>(s, w.o, w.m, w.l);

    ag_cp_async_wait_committed();  // V of this block
    ag_fence_proxy_async();
    __syncthreads();  // ... seen by all, and every warpgroup done with K
    if (nb + 1 < tile.nb_end) {
      ag_load_tile<AG_BLOCK_N, AG_HEAD_DIM, AG_D_PAD, AgQkLayout>(k_s, view.k, j0 + AG_BLOCK_N, e.ctx.skv);
      ag_cp_async_commit();
    }

    unsigned a[AG_PV_STEPS][4];
    ag_p_fragments(a, s[0]);
    ag_pin(w.o[0]);
    ag_wgmma_fence();
    ag_issue_pv(w.o[0], a, ag_v_desc(v_s));
    ag_wgmma_wait<0>();
    ag_pin(w.o[0]);
  }
}

#else
// The pipelined key loop: in the step for block n, Q K^T of n + 1 and P V of n
// run on the tensor cores together while the softmax of n + 1 runs on the
// CUDA cores; O is rescaled once P V of n is done. Feed says where block n's K
// and V are and synchronises with whoever brings them: the block's own
// threads (AgBlockFeed, below) or a producer warpgroup (AgProducerFeed,
// attention_fwd_wgmma_ws.cu):
//   k_ready(n)    K of n may be read (before the first block's Q K^T);
//   step_ready(n) K of n + 1 and V of n may be read;
//   v_ready(n)    V of n may be read (the last block's P V);
//   k_done(n), v_done(n): this warp's products with K or V of n are done;
//   issue_begin(), issue_end(last): around the two products a step issues
//     (ping-pong warpgroups take turns there; last: the loop's last step).
template <class Feed>
__device__ __forceinline__ void ag_pipelined_loop(const AttnParams& p, const AgTile& tile, AgWarpState& w,
                                                  unsigned long long q_desc, Feed& feed, int t) {
  const ag_block first = tile.nb_begin, end = tile.nb_end;
  // The first block's scores and probabilities (O is still 0: no rescale).
  float s[1][AG_NT_S][4];
  unsigned a[AG_PV_STEPS][4];
  float alpha[2];
  feed.k_ready(first);
  ag_wgmma_fence();
  ag_issue_qk(s[0], q_desc, ag_qk_desc(feed.k(first)));
  ag_wgmma_wait<0>();
  ag_pin(s[0]);
  feed.k_done(first);
  ag_score_block(s[0], p, tile, w.row, first, t);
  ag_softmax_rows<1>(s, w.m, w.l, alpha);
  ag_p_fragments(a, s[0]);

  // Every block but the last; the Q K^T it issues is never conditional (a
  // wgmma behind a branch makes ptxas serialize all of them).
  for (ag_block nb = first; nb + 1 < end; ++nb) {
    feed.step_ready(nb);
    feed.issue_begin();
    ag_wgmma_fence();
    ag_issue_qk(s[0], q_desc, ag_qk_desc(feed.k(nb + 1)));
    ag_pin(w.o[0]);
    ag_wgmma_fence();
    ag_issue_pv(w.o[0], a, ag_v_desc(feed.v(nb)));
    feed.issue_end(nb + 2 == end);
    ag_wgmma_wait<1>();  // Q K^T of nb + 1 (committed first) is done
    ag_pin(s[0]);
    feed.k_done(nb + 1);
    ag_score_block(s[0], p, tile, w.row, nb + 1, t);
    const bool moved = ag_softmax_rows<1>(s, w.m, w.l, alpha);
    ag_wgmma_wait<0>();  // P V of nb
    ag_pin(w.o[0]);
    ag_pin(a);
    feed.v_done(nb);
    ag_rescale<1>(w.o, alpha, moved);
    ag_p_fragments(a, s[0]);
  }
  // The last block's P V.
  feed.v_ready(end - 1);
  ag_pin(w.o[0]);
  ag_wgmma_fence();
  ag_issue_pv(w.o[0], a, ag_v_desc(feed.v(end - 1)));
  ag_wgmma_wait<0>();
  ag_pin(w.o[0]);
}

// K and V double-buffered: block nb of a tile whose first is `first` uses
// stage (nb - first) % 2 in round (nb - first) / 2 (the warp-specialised
// schedule's barriers count rounds by phase parity).
struct AgStages {
  ag_elem* k_s;  // two K buffers, then two V buffers
  ag_block first;
  __device__ int stage(ag_block nb) const { return (nb - first) & 1; }
  __device__ unsigned parity(ag_block nb) const { return ((nb - first) >> 1) & 1; }
  __device__ ag_elem* k(ag_block nb) const { return k_s + stage(nb) * AG_K_TILE; }
  __device__ ag_elem* v(ag_block nb) const { return k_s + 2 * AG_K_TILE + stage(nb) * AG_V_TILE; }
};

#if !AG_WGMMA_SPECIALIZED
// All the block's threads copy into the stages (AgStages): K of n + 2 and V
// of n + 1 load during the step of n, behind a block-wide barrier that also
// says every warpgroup is done with K of n (its Q K^T was waited for) and V
// of n - 1.
struct AgBlockFeed {
  AgViews view;
  AgStages st;
  ag_block end;
  ag_i64 skv;
  __device__ ag_elem* k(ag_block nb) const { return st.k(nb); }
  __device__ ag_elem* v(ag_block nb) const { return st.v(nb); }
  __device__ void load_k(ag_block nb) const {
    ag_load_tile<AG_BLOCK_N, AG_HEAD_DIM, AG_D_PAD, AgQkLayout>(k(nb), view.k, ag_block_key(nb), skv);
  }
  __device__ void load_v(ag_block nb) const {
    ag_load_tile<AG_BLOCK_N, AG_HEAD_DIM_V, AG_DV_PAD, AgVLayout>(v(nb), view.v, ag_block_key(nb), skv);
  }
  __device__ static void landed() {  // this thread's copies, then everyone's, seen by the tensor cores
    ag_cp_async_wait_committed();
    ag_fence_proxy_async();
    __syncthreads();
  }
  __device__ void k_ready(ag_block) const {}  // the prologue (ag_key_loop) waited for it
  __device__ void step_ready(ag_block nb) const {
    landed();
    if (nb + 2 < end) load_k(nb + 2);
    load_v(nb + 1);
    ag_cp_async_commit();
  }
  __device__ void v_ready(ag_block) const { landed(); }
  __device__ void k_done(ag_block) const {}
  __device__ void v_done(ag_block) const {}
  __device__ void issue_begin() const {}
  __device__ void issue_end(bool) const {}
};

__device__ __forceinline__ void ag_key_loop(const AttnParams& p, const AgTile& tile, AgWarpState& w, ag_elem* q_s,
                                            int warp, int t) {
  const AgEntry& e = tile.e;
  AgBlockFeed feed{ag_views(p, e), {q_s + AG_BLOCK_M * AG_D_PAD, tile.nb_begin}, tile.nb_end, e.ctx.skv};
  ag_load_tile<AG_BLOCK_M, AG_HEAD_DIM, AG_D_PAD, AgQkLayout>(q_s, feed.view.q, tile.x0, tile.x_end);
  feed.load_k(tile.nb_begin);
  feed.load_v(tile.nb_begin);
  if (tile.nb_begin + 1 < tile.nb_end) feed.load_k(tile.nb_begin + 1);
  ag_cp_async_commit();
  AgBlockFeed::landed();
  ag_pipelined_loop(p, tile, w, ag_qk_desc(q_s + (warp / 4) * 64 * AG_D_PAD), feed, t);
}
#endif
#endif

// The warp's 16 rows: 16 (warp % 4) within its warpgroup's 64, which are
// rows 64 (warp / 4) of the tile; nothing accumulated yet.
__device__ __forceinline__ void ag_start_rows(AgWarpState& w, const AttnParams& p, const AgTile& tile, int warp,
                                              int g) {
#pragma unroll
  for (int r = 0; r < 2; ++r) w.row[r] = ag_row(p, tile.e, tile.x0 + warp * 16 + r * 8 + g);
#pragma unroll
  for (int n = 0; n < AG_NT_O; ++n) w.o[0][n][0] = w.o[0][n][1] = w.o[0][n][2] = w.o[0][n][3] = 0.f;
  w.m[0] = w.m[1] = -AG_INF;
  w.l[0] = w.l[1] = 0.f;
}

#if !AG_WGMMA_SPECIALIZED
// The kernel body; attention_entries.cu makes the entry points.
template <bool SPLIT>
__device__ __forceinline__ void ag_attention(const AttnParams& p, float* part) {
  extern __shared__ __align__(128) unsigned char ag_smem[];
  const AgTile tile = ag_tile<SPLIT>(p);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  AgWarpState w;
  ag_start_rows(w, p, tile, warp, lane / 4);
  if (tile.nb_begin < tile.nb_end) ag_key_loop(p, tile, w, reinterpret_cast<ag_elem*>(ag_smem), warp, lane % 4);
  ag_store_fragments<1, SPLIT>(p, tile.e, w.row, w.o, w.m, w.l, lane % 4, part);
}
#endif
