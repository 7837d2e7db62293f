// The warp-specialised wgmma schedule (ATTNGEN_CUDA_TILE=128xNws, and
// 128xNwsp with ping-pong consumers; sm_90a), after attention_fwd_wgmma.cu
// (operands, descriptors, the products, the pipelined key loop): warpgroup 0
// is the producer, which copies Q once and K and V block by block into shared
// memory; warpgroups 1 and 2 are consumers of 64 query rows each, which run
// the pipelined key loop (Q K^T of block n + 1 and P V of block n in flight
// during the softmax of n + 1) with no block-wide barrier in it.
// FlashAttention-3's design, with cp.async copies in place of TMA: they
// zero-fill rows past the lengths (never read), take any view (bshd, strides)
// and need no tensor map.
//
// K and V have two stages each. A stage's "full" mbarrier completes when the
// producer's 128 threads have each seen their copies land
// (cp.async.mbarrier.arrive.noinc); its "empty" one when every consumer warp
// is done with it (its wgmma waited for). Block i of the tile uses stage
// i % 2 in round i / 2: the consumers wait for the full barrier's phase of
// parity round % 2, the producer for the empty one's of the round before
// (parity (round + 1) % 2: the first round passes at once).
//
// Registers: a producer needs few (addresses), the consumers' fragments many;
// setmaxnreg hands them over (AG_PRODUCER_REGS, AG_CONSUMER_REGS, rendered).

constexpr int AG_PRODUCER_THREADS = 128;
constexpr int AG_CONSUMER_WARPS = (AG_THREADS - AG_PRODUCER_THREADS) / 32;
constexpr int AG_TILE_BYTES = int(sizeof(ag_elem)) * (AG_BLOCK_M * AG_D_PAD + 2 * (AG_K_TILE + AG_V_TILE));

struct AgStageBarriers {  // after the tiles in shared memory
  unsigned long long q_full;
  unsigned long long k_full[2], k_empty[2];
  unsigned long long v_full[2], v_empty[2];
};
static_assert(sizeof(AgStageBarriers) <= AG_STAGE_BARRIER_BYTES, "the renderer reserves too little shared memory");

// The producer's copies of a tile are in flight: each thread's arrival follows
// them (the element-wise path stores, fences for the tensor cores, arrives).
__device__ __forceinline__ void ag_tile_issued(unsigned long long* full, bool chunked) {
  if (chunked) {
    ag_cp_async_mbar_arrive(full);
  } else {
    ag_fence_proxy_async();
    ag_mbar_arrive(full);
  }
}

// One K or V tile's copies by the producer's 128 threads, lean in registers
// (the producer has few: ptxas allocates the most any of its paths needs).
// Views cp.async cannot take go element by element, one at a time. Else
// thread t's chunks are c = t + 128 k, which in core-matrix order lie 16 c
// bytes into the tile: where a row group's chunk count (COLS_PAD / 8) divides
// 16, each thread keeps one column and steps 128 / count rows at a time, so a
// copy costs a pointer increment; other widths go chunk by chunk.
template <int COLS, int COLS_PAD>
__device__ __forceinline__ void ag_produce_tile(ag_elem* smem, const AgRows& src, ag_i64 row0, ag_i64 row_end,
                                                int t) {
  typedef AgCoreMatrices<COLS_PAD> Layout;
  constexpr int PER_ROW = COLS_PAD / 8, STEP = AG_PRODUCER_THREADS / PER_ROW;
  if (!src.chunked) {
#pragma unroll 1
    for (int x = t; x < AG_BLOCK_N * COLS_PAD; x += AG_PRODUCER_THREADS)
      ag_load_element<COLS, COLS_PAD, Layout>(smem, src, row0, row_end, x);
    return;
  }
  if (16 % PER_ROW != 0) {
#pragma unroll 1
    for (int c = t; c < AG_BLOCK_N * PER_ROW; c += AG_PRODUCER_THREADS)
      ag_load_chunk<COLS, Layout>(smem, src, row0, row_end, c);
    return;
  }
  const int r0 = (t >> 3) / PER_ROW * 8 + (t & 7), col = (t >> 3) % PER_ROW * 8;
  const int rows = int(ag_max(0, ag_min(row_end - row0 - r0, AG_BLOCK_N)));  // this thread's valid rows, from r0
  const ag_elem* g = src.base + (row0 + r0) * src.row_str + col;
  const ag_i64 g_step = STEP * src.row_str;
#pragma unroll 1
  for (int k = 0; k < AG_BLOCK_N / STEP; ++k) {
    const bool valid = col < COLS && k * STEP < rows;
    ag_cp_async16(smem + 8 * (t + AG_PRODUCER_THREADS * k), valid ? g : src.base, valid);
    g += g_step;
  }
}

__device__ __forceinline__ void ag_produce(const AttnParams& p, const AgTile& tile, ag_elem* q_s, const AgStages& st,
                                           AgStageBarriers& bar) {
  const int t = threadIdx.x;
  const AgEntry& e = tile.e;
  const AgViews view = ag_views(p, e);
  ag_load_tile<AG_BLOCK_M, AG_HEAD_DIM, AG_D_PAD, AgQkLayout, AG_PRODUCER_THREADS>(q_s, view.q, tile.x0, tile.x_end,
                                                                                   t);
  ag_tile_issued(&bar.q_full, view.q.chunked);
  for (ag_block nb = tile.nb_begin; nb < tile.nb_end; ++nb) {
    const int s = st.stage(nb);
    const unsigned free_parity = st.parity(nb) ^ 1u;
    ag_mbar_wait(&bar.k_empty[s], free_parity);
    ag_produce_tile<AG_HEAD_DIM, AG_D_PAD>(st.k(nb), view.k, ag_block_key(nb), e.ctx.skv, t);
    ag_tile_issued(&bar.k_full[s], view.k.chunked);
    ag_mbar_wait(&bar.v_empty[s], free_parity);
    ag_produce_tile<AG_HEAD_DIM_V, AG_DV_PAD>(st.v(nb), view.v, ag_block_key(nb), e.ctx.skv, t);
    ag_tile_issued(&bar.v_full[s], view.v.chunked);
  }
  // The producer may exit with copies in flight: each is handed to a full
  // barrier (.noinc), whose phase completes only once it lands, and the
  // consumers wait for that phase (FlashAttention-3's producer exits so too).
}

// What a consumer warp's pipelined loop (ag_pipelined_loop) waits for and
// frees: each stage's full barrier, then a fence so that the tensor cores see
// the copies; one arrival per warp on the empty barrier once the warp's
// wgmma with the stage is done (its lanes passed the wait together).
struct AgProducerFeed {
  AgStages st;
  AgStageBarriers* bar;
  __device__ ag_elem* k(ag_block nb) const { return st.k(nb); }
  __device__ ag_elem* v(ag_block nb) const { return st.v(nb); }
  __device__ static void acquire(unsigned long long* full, unsigned parity) {
    ag_mbar_wait(full, parity);
    ag_fence_proxy_async();
  }
  __device__ static void release(unsigned long long* empty) {
    if (threadIdx.x % 32 == 0) ag_mbar_arrive(empty);
  }
  __device__ void k_ready(ag_block nb) const { acquire(&bar->k_full[st.stage(nb)], st.parity(nb)); }
  __device__ void v_ready(ag_block nb) const { acquire(&bar->v_full[st.stage(nb)], st.parity(nb)); }
  __device__ void step_ready(ag_block nb) const {
    k_ready(nb + 1);
    v_ready(nb);
  }
  __device__ void k_done(ag_block nb) const { release(&bar->k_empty[st.stage(nb)]); }
  __device__ void v_done(ag_block nb) const { release(&bar->v_empty[st.stage(nb)]); }
#if AG_WGMMA_PINGPONG
  // Ping-pong (FlashAttention-3): the two consumer warpgroups take turns to
  // issue a step's products, so that one's softmax runs while the other's
  // products use the tensor cores. Warpgroup c issues after bar.sync on
  // named barrier 1 + c, which the other's 128 threads complete with
  // bar.arrive once they have issued theirs; warpgroup 1 gives 0 the first
  // turn before the loop and keeps back its last arrival, which no one would
  // wait for (both run the tile's steps, as many each).
  int wg;  // 0 or 1: which consumer warpgroup
  __device__ void issue_begin() const { ag_named_sync(1 + wg, 256); }
  __device__ void issue_end(bool last) const {
    if (!(last && wg == 1)) ag_named_arrive(2 - wg, 256);
  }
#else
  __device__ void issue_begin() const {}
  __device__ void issue_end(bool) const {}
#endif
};

// The kernel body; attention_entries.cu makes the entry points.
template <bool SPLIT>
__device__ __forceinline__ void ag_attention(const AttnParams& p, float* part) {
  extern __shared__ __align__(128) unsigned char ag_smem[];
  ag_elem* q_s = reinterpret_cast<ag_elem*>(ag_smem);
  AgStageBarriers& bar = *reinterpret_cast<AgStageBarriers*>(ag_smem + AG_TILE_BYTES);
  const AgTile tile = ag_tile<SPLIT>(p);
  const AgStages st{q_s + AG_BLOCK_M * AG_D_PAD, tile.nb_begin};
  if (threadIdx.x == 0) {
    ag_mbar_init(&bar.q_full, AG_PRODUCER_THREADS);
    for (int s = 0; s < 2; ++s) {
      ag_mbar_init(&bar.k_full[s], AG_PRODUCER_THREADS);
      ag_mbar_init(&bar.v_full[s], AG_PRODUCER_THREADS);
      ag_mbar_init(&bar.k_empty[s], AG_CONSUMER_WARPS);
      ag_mbar_init(&bar.v_empty[s], AG_CONSUMER_WARPS);
    }
  }
  __syncthreads();  // the barriers are initialised; no block-wide barrier after this

  if (threadIdx.x < AG_PRODUCER_THREADS) {
    ag_setmaxnreg_dec<AG_PRODUCER_REGS>();
    if (tile.nb_begin < tile.nb_end) ag_produce(p, tile, q_s, st, bar);
    return;
  }
  ag_setmaxnreg_inc<AG_CONSUMER_REGS>();
  const int warp = threadIdx.x / 32 - AG_PRODUCER_THREADS / 32, lane = threadIdx.x % 32;
  AgWarpState w;
  ag_start_rows(w, p, tile, warp, lane / 4);
  if (tile.nb_begin < tile.nb_end) {
#if AG_WGMMA_PINGPONG
    AgProducerFeed feed{st, &bar, warp / 4};
    if (feed.wg == 1 && tile.nb_begin + 1 < tile.nb_end) ag_named_arrive(1, 256);  // the first turn is 0's
#else
    AgProducerFeed feed{st, &bar};
#endif
    AgProducerFeed::acquire(&bar.q_full, 0);
    ag_pipelined_loop(p, tile, w, ag_qk_desc(q_s + (warp / 4) * 64 * AG_D_PAD), feed, lane % 4);
  }
  ag_store_fragments<1, SPLIT>(p, tile.e, w.row, w.o, w.m, w.l, lane % 4, part);
}
