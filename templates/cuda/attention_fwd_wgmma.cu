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
__device__ __forceinline__ void ag_wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void ag_wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void ag_wgmma_wait_all() { asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory"); }
// Accumulators are written by the tensor cores behind the compiler's back:
// pin every read and write of them between the issue and the wait.
template <int N>
__device__ __forceinline__ void ag_pin(float (&d)[N][4]) {
#pragma unroll
  for (int n = 0; n < N; ++n)
#pragma unroll
    for (int x = 0; x < 4; ++x) asm volatile("" : "+f"(d[n][x])::"memory");
}
// Shared memory written by this thread's copies and stores, made visible to
// the tensor cores (the async proxy) once the barrier after it is passed.
__device__ __forceinline__ void ag_fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;" ::: "memory"); }

constexpr int AG_CORE_BYTES = 128;

extern "C" __global__ void __launch_bounds__(AG_THREADS) AG_ENTRY(const AttnParams p) {
  extern __shared__ __align__(128) unsigned char ag_smem[];
  ag_elem* q_s = reinterpret_cast<ag_elem*>(ag_smem);
  ag_elem* k_s = q_s + AG_BLOCK_M * AG_D_PAD;
  ag_elem* v_s = k_s + AG_BLOCK_N * AG_D_PAD;

  const AgTile tile = ag_tile(p);
  const AgEntry& e = tile.e;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;

  // The warp's 16 rows: 16 (warp % 4) within its warpgroup's 64, which are
  // rows 64 (warp / 4) of the tile. row[rr]: row g + 8 rr of them.
  AgRow row[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) row[r] = ag_row(p, e, tile.i0 + warp * 16 + r * 8 + g);

  float o[1][AG_NT_O][4];
#pragma unroll
  for (int n = 0; n < AG_NT_O; ++n) o[0][n][0] = o[0][n][1] = o[0][n][2] = o[0][n][3] = 0.f;
  float m[2] = {-AG_INF, -AG_INF}, l[2] = {0.f, 0.f};  // running maximum (score units) and sum of each row

  if (tile.nb_begin < tile.nb_end) {
    const AgViews view = ag_views(p, e);
    ag_load_tile<AG_BLOCK_M, AG_HEAD_DIM, AG_D_PAD, AgQkLayout>(q_s, view.q, tile.i0, e.ctx.sq);
    ag_load_tile<AG_BLOCK_N, AG_HEAD_DIM, AG_D_PAD, AgQkLayout>(k_s, view.k, tile.nb_begin * AG_BLOCK_N, e.ctx.skv);
    ag_cp_async_commit();

    // Q of the warpgroup (its 64 rows are 8 row groups) and K: a k16 step is
    // two cores along the row, AG_CORE_BYTES apart; row groups D_PAD * 16 bytes apart.
    const unsigned long long q_desc =
        ag_desc(q_s + (warp / 4) * 64 * AG_D_PAD, AG_CORE_BYTES, AG_D_PAD / 8 * AG_CORE_BYTES);
    const unsigned long long k_desc = ag_desc(k_s, AG_CORE_BYTES, AG_D_PAD / 8 * AG_CORE_BYTES);
    // V, N-major: groups of 8 keys DV_PAD * 16 bytes apart, groups of 8 columns one core apart.
    const unsigned long long v_desc = ag_desc(v_s, AG_DV_PAD / 8 * AG_CORE_BYTES, AG_CORE_BYTES);

    for (ag_i64 nb = tile.nb_begin; nb < tile.nb_end; ++nb) {
      const ag_i64 j0 = nb * AG_BLOCK_N;
      ag_cp_async_wait_all();  // K (and Q) of this block
      ag_fence_proxy_async();
      __syncthreads();  // ... seen by all, and every warpgroup done with V of the last block
      ag_load_tile<AG_BLOCK_N, AG_HEAD_DIM_V, AG_DV_PAD, AgVLayout>(v_s, view.v, j0, e.ctx.skv);
      ag_cp_async_commit();

      // S = Q K^T for the warpgroup's rows (the first step overwrites S).
      float s[1][AG_NT_S][4];
      ag_wgmma_fence();
#pragma unroll
      for (int kt = 0; kt < AG_KT_Q; ++kt) {
        const unsigned long long step = 2 * kt * AG_CORE_BYTES >> 4;  // descriptors count 16-byte units
        ag_wgmma_qk(s[0], q_desc + step, k_desc + step, kt > 0);
      }
      ag_wgmma_commit();
      ag_wgmma_wait_all();
      ag_pin(s[0]);

      if (nb >= tile.full_begin && nb < tile.full_end)
        ag_score_fragment<true>(s[0], p, e, row, j0, t);
      else
        ag_score_fragment<false>(s[0], p, e, row, j0, t);
      ag_softmax_fragments<1>(s, o, m, l);

      ag_cp_async_wait_all();  // V of this block
      ag_fence_proxy_async();
      __syncthreads();  // ... seen by all, and every warpgroup done with K
      if (nb + 1 < tile.nb_end) {
        ag_load_tile<AG_BLOCK_N, AG_HEAD_DIM, AG_D_PAD, AgQkLayout>(k_s, view.k, j0 + AG_BLOCK_N, e.ctx.skv);
        ag_cp_async_commit();
      }

      // O += P V, 16 keys (two groups of 8 rows of V) per step.
      unsigned a[AG_BLOCK_N / 16][4];
#pragma unroll
      for (int kk = 0; kk < AG_BLOCK_N / 16; ++kk) ag_p_fragment(a[kk], s[0], kk);
      ag_pin(o[0]);
      ag_wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < AG_BLOCK_N / 16; ++kk)
        ag_wgmma_pv(o[0], a[kk], v_desc + (2 * kk * (AG_DV_PAD / 8) * AG_CORE_BYTES >> 4));
      ag_wgmma_commit();
      ag_wgmma_wait_all();
      ag_pin(o[0]);
    }
  }

  ag_store_fragments<1>(p, e, row, o, m, l, t);
}
