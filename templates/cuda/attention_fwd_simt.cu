// f32 on the CUDA cores: exact f32 FMA (no TF32).
//
// A tile of BLOCK_M rows by BLOCK_N keys; thread (r, c) = (tid / 4, tid % 4)
// scores keys c, c + 4, ... of row r and accumulates output columns c, c + 4, ...
// of row r. Rows are padded by one element against bank conflicts.

constexpr int AG_QK_PITCH = AG_D_PAD + 1;
constexpr int AG_V_PITCH = AG_DV_PAD + 1;
constexpr int AG_P_PITCH = AG_BLOCK_N + 1;
constexpr int AG_KEYS_PER_THREAD = AG_BLOCK_N / 4;
constexpr int AG_COLS_PER_THREAD = AG_DV_PAD / 4;
typedef AgPitched<AG_D_PAD, AG_QK_PITCH> AgQkLayout;
typedef AgPitched<AG_DV_PAD, AG_V_PITCH> AgVLayout;

// The kernel body; attention_entries.cu makes the entry points.
template <bool SPLIT>
__device__ __forceinline__ void ag_attention(const AttnParams& p, float* part) {
  extern __shared__ __align__(128) unsigned char ag_smem[];
  float* q_s = reinterpret_cast<float*>(ag_smem);
  float* k_s = q_s + AG_BLOCK_M * AG_QK_PITCH;
  float* v_s = k_s + AG_BLOCK_N * AG_QK_PITCH;
  float* p_s = v_s + AG_BLOCK_N * AG_V_PITCH;

  const AgTile tile = ag_tile<SPLIT>(p);
  const AgEntry& e = tile.e;
  const int r = threadIdx.x / 4, c = threadIdx.x % 4;
  const AgRow row = ag_row(p, e, tile.x0 + r);
  // A warp (8 rows) whose rows are all past the valid ones loads its share
  // and meets the barriers, but computes nothing; its rows store zeros (rows
  // past q_lens) or nothing.
  const bool warp_has_rows = tile.x0 + (threadIdx.x / 32) * 8 < tile.x_end;

  float o[AG_COLS_PER_THREAD];
#pragma unroll
  for (int x = 0; x < AG_COLS_PER_THREAD; ++x) o[x] = 0.f;
  float m = -AG_INF, l = 0.f;  // running maximum (score units) and sum of the row

  if (tile.nb_begin < tile.nb_end) {
    AgViews view = ag_views(p, e);
    view.q.chunked = view.k.chunked = view.v.chunked = false;  // plain loads: the CUDA cores are the limit here
    ag_load_tile<AG_BLOCK_M, AG_HEAD_DIM, AG_D_PAD, AgQkLayout>(q_s, view.q, tile.x0, tile.x_end);
    for (ag_block nb = tile.nb_begin; nb < tile.nb_end; ++nb) {
      const ag_i64 j0 = ag_block_key(nb);
      __syncthreads();  // every thread done with the last block's K, V and P
      ag_load_tile<AG_BLOCK_N, AG_HEAD_DIM, AG_D_PAD, AgQkLayout>(k_s, view.k, j0, e.ctx.skv);
      ag_load_tile<AG_BLOCK_N, AG_HEAD_DIM_V, AG_DV_PAD, AgVLayout>(v_s, view.v, j0, e.ctx.skv);
      __syncthreads();
      if (!warp_has_rows) continue;

      float s[AG_KEYS_PER_THREAD];
#pragma unroll
      for (int x = 0; x < AG_KEYS_PER_THREAD; ++x) s[x] = 0.f;
      for (int d = 0; d < AG_D_PAD; ++d) {
        const float qv = q_s[r * AG_QK_PITCH + d];
#pragma unroll
        for (int x = 0; x < AG_KEYS_PER_THREAD; ++x) s[x] = fmaf(qv, k_s[(c + 4 * x) * AG_QK_PITCH + d], s[x]);
      }
      const bool full = nb >= tile.full_begin && nb < tile.full_end;
      float mx = m;
#pragma unroll
      for (int x = 0; x < AG_KEYS_PER_THREAD; ++x) {
        const ag_i64 j = j0 + c + 4 * x;
        s[x] = full ? ag_score<true>(s[x], p, e, row, j)
                    : (j < e.ctx.skv ? ag_score<false>(s[x], p, e, row, j) : -AG_INF);
        mx = fmaxf(mx, s[x]);
      }
      mx = ag_quad_max(mx);
      float base;
      const float alpha = ag_softmax_step(m, mx, base);
      float sum = 0.f;
#pragma unroll
      for (int x = 0; x < AG_KEYS_PER_THREAD; ++x) {
        const float pv = ag_prob(s[x], base);
        sum += pv;
        p_s[r * AG_P_PITCH + c + 4 * x] = pv;
      }
      l = l * alpha + ag_block_sum(sum, base);
      __syncwarp();  // a row's 4 threads are in one warp
#pragma unroll
      for (int x = 0; x < AG_COLS_PER_THREAD; ++x) o[x] *= alpha;
      for (int j = 0; j < AG_BLOCK_N; ++j) {
        const float pv = p_s[r * AG_P_PITCH + j];
#pragma unroll
        for (int x = 0; x < AG_COLS_PER_THREAD; ++x) o[x] = fmaf(pv, v_s[j * AG_V_PITCH + c + 4 * x], o[x]);
      }
    }
  }

  l = ag_quad_sum(l);
  const ag_i64 i = row.i;
  if (i >= p.sq) return;
  const bool valid = i < e.ctx.sq;
  const float inv = ag_row_scale(l, valid);
  if (SPLIT) {  // split-KV: this split's partial results (merged by attention_entries.cu)
    const AgPartial part_row = ag_partial(p, part, e, row);
#pragma unroll
    for (int x = 0; x < AG_COLS_PER_THREAD; ++x) {
      const int col = c + 4 * x;
      if (col < AG_HEAD_DIM_V) part_row.o[col] = valid ? o[x] * inv : 0.f;
    }
    if (c == 0) *part_row.lse = ag_row_lse(m, l, valid);
    return;
  }
  const AgOut out = ag_out(p, e);
  float* dst = out.row(row);
#pragma unroll
  for (int x = 0; x < AG_COLS_PER_THREAD; ++x) {
    const int col = c + 4 * x;
    if (col < AG_HEAD_DIM_V) dst[col * out.col_str] = valid ? o[x] * inv : 0.f;
  }
  if (c == 0) ag_store_lse(p, e, row, ag_row_lse(m, l, valid));
}
