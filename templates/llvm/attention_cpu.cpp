// attngen's fused attention forward kernel for CPUs, compiled by clang/LLVM
// in process (codegen/llvm) for the host or ahead of time for another target.
//
// codegen/llvm/render.cpp prepends templates/common/attention_params.h (the
// launch argument, shared with the CUDA kernels), templates/llvm/simd.h and a
// prelude rendered from the spec: AG_* constants (dtype, head dims, vector
// width, tile shape, which masks and score mods exist) and `allowed_keys`,
// the AND of the index masks as one key interval per query row (the same
// function the CUDA kernels get). Nothing here branches at run time on the
// kind of mask. Portable SIMD: clang's vector types, AG_LANES floats wide
// (16 on AVX-512, 8 on AVX2, 4 on NEON and SSE).
//
// A work item is AG_BLOCK_M rows of one (batch entry, KV head): the rows of
// its group's query heads, interleaved (row R is query R / AG_GROUP of head
// hk * AG_GROUP + R % AG_GROUP), so that K and V are converted once for the
// group and a decode step (Sq 1) fills AG_GROUP lanes, not one. Its rows are
// the lanes: Q is held transposed (qt[d][row]), scores are computed
// transposed (st[key][row]) by broadcasting one key element against a vector
// of rows, so the online softmax is per lane with no horizontal reductions,
// and O is accumulated transposed (ot[dv][row]). K and V blocks of
// AG_BLOCK_N keys are converted to f32 into scratch (never read past the
// lengths: zero-filled there). Key blocks allowed for every row skip the
// per-element mask work; keys outside the tile's allowed range are not visited.
// An item with few live rows (a decode step) takes the decode path instead,
// with keys in the lanes (templates/llvm/attention_decode.cpp).
//
// Products and sums are fused (FMA) where the target has it (-ffp-contract=on).
//
// Semantics are spec v1 (docs/spec.md): rows past q_lens and rows with no
// allowed key output O = 0 and LSE = -inf; a row that reads NaN/Inf (or whose
// score overflows) outputs NaN.

#if AG_DTYPE == AG_DTYPE_F32
typedef float ag_elem;
AG_INLINE float ag_to_float(ag_elem x) { return x; }
AG_INLINE ag_elem ag_from_float(float x) { return x; }
#elif AG_DTYPE == AG_DTYPE_BF16
typedef ag_u16 ag_elem;
AG_INLINE float ag_to_float(ag_elem x) { return ag_bf16_to_float(x); }
AG_INLINE ag_elem ag_from_float(float x) { return ag_float_to_bf16(x); }
#elif defined(__F16C__) || defined(__aarch64__)
// The target converts halves in hardware (vcvtph2ps/vcvtps2ph, fcvt), in
// vectors where the loop allows: exact, and rounded to nearest even as the
// bit path below (a NaN may keep another payload). No compiler-rt call.
typedef ag_u16 ag_elem;
AG_INLINE float ag_to_float(ag_elem x) { return float(__builtin_bit_cast(_Float16, x)); }
AG_INLINE ag_elem ag_from_float(float x) { return __builtin_bit_cast(ag_u16, _Float16(x)); }
#else
typedef ag_u16 ag_elem;
AG_INLINE float ag_to_float(ag_elem x) { return ag_f16_to_float(x); }
AG_INLINE ag_elem ag_from_float(float x) { return ag_float_to_f16(x); }
#endif

AG_INLINE float ag_mask_value(const AttnParams* p, ag_i64 off) {
  switch (p->mask_type) {
    case AG_MASK_F32: return static_cast<const float*>(p->mask)[off];
    case AG_MASK_F16: return ag_f16_to_float(static_cast<const ag_u16*>(p->mask)[off]);
    case AG_MASK_BF16: return ag_bf16_to_float(static_cast<const ag_u16*>(p->mask)[off]);
    default: return static_cast<const unsigned char*>(p->mask)[off] ? 1.0f : 0.0f;
  }
}

// Rows (key rows of K or V) [j0, j0 + n) of head hk, converted to f32 into
// dst[n][pitch]; rows at or past `valid` and columns past `cols` are zeros.
AG_INLINE void ag_load_rows(const void* base, const ag_i64* str, ag_i64 b, ag_i64 hk, ag_i64 j0, int n, ag_i64 valid,
                            int cols, int pitch, float* dst) {
  const ag_elem* src = static_cast<const ag_elem*>(base) + b * str[0] + hk * str[1];
  for (int r = 0; r < n; ++r) {
    float* out = dst + r * pitch;
    if (j0 + r >= valid) {
      for (int c = 0; c < pitch; ++c) out[c] = 0.0f;
      continue;
    }
    const ag_elem* row = src + (j0 + r) * str[2];
    if (str[3] == 1) {
      for (int c = 0; c < cols; ++c) out[c] = ag_to_float(row[c]);
    } else {
      for (int c = 0; c < cols; ++c) out[c] = ag_to_float(row[c * str[3]]);
    }
    for (int c = cols; c < pitch; ++c) out[c] = 0.0f;
  }
}

// The decode path (templates/llvm/attention_decode.cpp): items with at most
// AG_DEC_ROWS live rows, keys in blocks of AG_DEC_BN, V rows AG_DV_PITCH apart.
// Up to 8 rows (a GQA group of 8) on every target, even where they fill the
// tile path's lanes (SSE2, NEON, AVX2): that path copies K and V into scratch
// before its FMAs, waiting on the loads, while the decode path overlaps them
// (1.3-1.8x for a GQA-8 decode step; at 16 rows the tile path is faster). The
// products run on passes of AG_DEC_PASS rows.
#define AG_DEC_ROWS 8
#define AG_DEC_PASS 4
#define AG_DEC_BN 64
#define AG_DV_PITCH ((AG_HEAD_DIM_V + 15) / 16 * 16)

// Scratch of one work item, in floats (each part a multiple of 16 floats).
#define AG_QT_FLOATS (AG_HEAD_DIM * AG_BLOCK_M)
#define AG_OT_FLOATS (AG_DV_PAD * AG_BLOCK_M)
#define AG_ST_FLOATS (AG_BLOCK_N * AG_BLOCK_M)
#define AG_KB_FLOATS (AG_BLOCK_N * AG_D_PITCH)
#define AG_VB_FLOATS (AG_BLOCK_N * (AG_DV_PAD > AG_DV_PITCH ? AG_DV_PAD : AG_DV_PITCH))
#define AG_TILE_FLOATS (AG_QT_FLOATS + AG_OT_FLOATS + AG_ST_FLOATS + AG_KB_FLOATS + AG_VB_FLOATS)
// The decode path's: Q and O rows, scores by row, the dot products' partial vectors.
#define AG_DEC_FLOATS \
  (AG_DEC_ROWS * (AG_D_PITCH + AG_DV_PITCH + AG_DEC_BN) + AG_DEC_PASS * AG_LANES * AG_LANES + AG_KB_FLOATS + \
   AG_VB_FLOATS)
#define AG_SCRATCH_FLOATS ((AG_TILE_FLOATS > AG_DEC_FLOATS ? AG_TILE_FLOATS : AG_DEC_FLOATS) + 16)

// The two products run on the first RV row vectors of the tile: all of them,
// or fewer when the tile's live rows fit (a decode step: AG_GROUP rows), the
// other rows being masked to -inf and never written out.

// st[n][rows] = q_tile . k_n for the block's n keys (kb: [n][AG_D_PITCH]).
template <int RV>
AG_INLINE void ag_scores_rv(const float* qt, const float* kb, int n_keys, float* st) {
  for (int n0 = 0; n0 < n_keys; n0 += AG_NR) {
    agv acc[AG_NR][RV];
#pragma clang loop unroll(full)
    for (int x = 0; x < AG_NR; ++x)
#pragma clang loop unroll(full)
      for (int r = 0; r < RV; ++r) acc[x][r] = ag_splat(0.0f);
    const float* k0 = kb + n0 * AG_D_PITCH;
    for (int d = 0; d < AG_HEAD_DIM; ++d) {
      agv q[RV];
#pragma clang loop unroll(full)
      for (int r = 0; r < RV; ++r) q[r] = ag_load(qt + d * AG_BLOCK_M + r * AG_LANES);
#pragma clang loop unroll(full)
      for (int x = 0; x < AG_NR; ++x) {
        const agv kv = ag_splat(k0[x * AG_D_PITCH + d]);
#pragma clang loop unroll(full)
        for (int r = 0; r < RV; ++r) acc[x][r] = kv * q[r] + acc[x][r];
      }
    }
#pragma clang loop unroll(full)
    for (int x = 0; x < AG_NR; ++x)
#pragma clang loop unroll(full)
      for (int r = 0; r < RV; ++r) ag_store(st + (n0 + x) * AG_BLOCK_M + r * AG_LANES, acc[x][r]);
  }
}

// ot[dv][rows] += sum_n st[n][rows] * vb[n][dv] over the block's n keys.
template <int RV>
AG_INLINE void ag_accumulate_rv(const float* st, const float* vb, int n_keys, float* ot) {
  for (int c0 = 0; c0 < AG_DV_PAD; c0 += AG_NR) {
    agv acc[AG_NR][RV];
#pragma clang loop unroll(full)
    for (int x = 0; x < AG_NR; ++x)
#pragma clang loop unroll(full)
      for (int r = 0; r < RV; ++r) acc[x][r] = ag_load(ot + (c0 + x) * AG_BLOCK_M + r * AG_LANES);
    for (int n = 0; n < n_keys; ++n) {
      agv pv[RV];
#pragma clang loop unroll(full)
      for (int r = 0; r < RV; ++r) pv[r] = ag_load(st + n * AG_BLOCK_M + r * AG_LANES);
#pragma clang loop unroll(full)
      for (int x = 0; x < AG_NR; ++x) {
        const agv vv = ag_splat(vb[n * AG_DV_PAD + c0 + x]);
#pragma clang loop unroll(full)
        for (int r = 0; r < RV; ++r) acc[x][r] = vv * pv[r] + acc[x][r];
      }
    }
#pragma clang loop unroll(full)
    for (int x = 0; x < AG_NR; ++x)
#pragma clang loop unroll(full)
      for (int r = 0; r < RV; ++r) ag_store(ot + (c0 + x) * AG_BLOCK_M + r * AG_LANES, acc[x][r]);
  }
}

// The products on the first `nv` row vectors (rounded up to 1, 2 or all).
AG_INLINE void ag_scores(const float* qt, const float* kb, int n_keys, float* st, int nv) {
  if (nv <= 1) return ag_scores_rv<1>(qt, kb, n_keys, st);
#if AG_RV > 2
  if (nv <= 2) return ag_scores_rv<2>(qt, kb, n_keys, st);
#endif
  ag_scores_rv<AG_RV>(qt, kb, n_keys, st);
}
AG_INLINE void ag_accumulate(const float* st, const float* vb, int n_keys, float* ot, int nv) {
  if (nv <= 1) return ag_accumulate_rv<1>(st, vb, n_keys, ot);
#if AG_RV > 2
  if (nv <= 2) return ag_accumulate_rv<2>(st, vb, n_keys, ot);
#endif
  ag_accumulate_rv<AG_RV>(st, vb, n_keys, ot);
}

// The decode path (templates/llvm/attention_decode.cpp, rendered after this
// file): an item with at most AG_DEC_ROWS live rows.
// Not inlined into run_item: a function of its own compiles about 12% faster.
static __attribute__((noinline)) void ag_decode(const AttnParams* p, ag_i64 b, ag_i64 hk, int rows, int n_live,
                                                const ag_i64* qi, const ag_i64* hq, const ag_i64* lo,
                                                const ag_i64* hi, const AgRowCtx& ctx, ag_i64 tile_lo,
                                                ag_i64 tile_hi, ag_i64 kv_len, float* scratch);

extern "C" {

#define AG_NUM_KV_HEADS (AG_NUM_HEADS / AG_GROUP)

// Work items of one call: batch x KV heads x tiles of (query, head of the group) rows.
AG_INLINE ag_i64 ag_tiles(const AttnParams* p) { return (p->sq * AG_GROUP + AG_BLOCK_M - 1) / AG_BLOCK_M; }
ag_i64 AG_FN(items)(const AttnParams* p) { return p->batch * AG_NUM_KV_HEADS * ag_tiles(p); }

// Bytes of scratch one running item needs (64-byte aligned is best).
ag_i64 AG_FN(scratch_bytes)(void) { return ag_i64(sizeof(float)) * AG_SCRATCH_FLOATS; }

void AG_FN(run_item)(const AttnParams* p, ag_i64 item, void* scratch) {
  const ag_i64 tiles = ag_tiles(p);
  const ag_i64 tile = item % tiles;
  const ag_i64 hk = (item / tiles) % AG_NUM_KV_HEADS;
  const ag_i64 b = item / tiles / AG_NUM_KV_HEADS;
  const ag_i64 r0 = tile * AG_BLOCK_M;  // first (query, head) row

  // This entry's lengths (clamped to the extents) and the row context of the index masks.
  ag_i64 q_len = p->sq, kv_len = p->skv;
  if (p->q_lens) q_len = ag_min(ag_max(p->q_lens[b * p->q_lens_str], 0), p->sq);
  if (p->kv_lens) kv_len = ag_min(ag_max(p->kv_lens[b * p->kv_lens_str], 0), p->skv);
  AgRowCtx ctx;
  ctx.sq = q_len;
  ctx.skv = kv_len;
  ctx.prefix = p->prefix_lens ? ag_i64(p->prefix_lens[b * p->prefix_lens_str]) : ag_static_prefix();
  // Row r: query qi[r] of head hq[r]; `live` rows attend (a query within q_len).
  const int rows = int(ag_min(AG_BLOCK_M, p->sq * AG_GROUP - r0));
  ag_i64 qi[AG_BLOCK_M], hq[AG_BLOCK_M];
  bool live[AG_BLOCK_M];
  for (int r = 0; r < AG_BLOCK_M; ++r) {
    qi[r] = (r0 + r) / AG_GROUP, hq[r] = hk * AG_GROUP + (r0 + r) % AG_GROUP;
    live[r] = r < rows && qi[r] < q_len;
  }

  float* qt = static_cast<float*>(scratch);
  float* ot = qt + AG_QT_FLOATS;
  float* st = ot + AG_OT_FLOATS;
  float* kb = st + AG_ST_FLOATS;
  float* vb = kb + AG_KB_FLOATS;

  // Each row's allowed keys; the tile visits the union.
  ag_i64 lo[AG_BLOCK_M], hi[AG_BLOCK_M];
  ag_i64 tile_lo = kv_len, tile_hi = -1, all_lo = 0, all_hi = kv_len - 1;
  int nv = 1;  // row vectors holding every live row
  for (int r = 0; r < AG_BLOCK_M; ++r) {
    lo[r] = 0, hi[r] = -1;
    if (live[r]) allowed_keys(qi[r], ctx, lo[r], hi[r]), nv = r / AG_LANES + 1;
    if (lo[r] <= hi[r]) tile_lo = ag_min(tile_lo, lo[r]), tile_hi = ag_max(tile_hi, hi[r]);
    all_lo = ag_max(all_lo, lo[r]), all_hi = ag_min(all_hi, hi[r]);
  }

  // Live rows are a prefix (queries grow with the row); few of them: the decode path.
  int n_live = 0;
  for (int r = 0; r < AG_BLOCK_M; ++r) n_live += live[r];
  if (n_live <= AG_DEC_ROWS)
    return ag_decode(p, b, hk, rows, n_live, qi, hq, lo, hi, ctx, tile_lo, tile_hi, kv_len, qt);

  // Q transposed, f32.
  const ag_elem* q = static_cast<const ag_elem*>(p->q) + b * p->q_str[0];
  for (int r = 0; r < AG_BLOCK_M; ++r) {
    const ag_elem* qrow = q + hq[r] * p->q_str[1] + qi[r] * p->q_str[2];
    for (int d = 0; d < AG_HEAD_DIM; ++d) qt[d * AG_BLOCK_M + r] = live[r] ? ag_to_float(qrow[d * p->q_str[3]]) : 0.0f;
  }
  for (int c = 0; c < AG_OT_FLOATS; ++c) ot[c] = 0.0f;

  agv m[AG_RV], l[AG_RV];
  agvi bad[AG_RV];
#pragma clang loop unroll(full)
  for (int r = 0; r < AG_RV; ++r) m[r] = ag_splat(-ag_inf), l[r] = ag_splat(0.0f), bad[r] = (agvi)(0);

#if AG_HAS_ALIBI
  agv slope[AG_RV];  // per row: its head's
  for (int r = 0; r < AG_BLOCK_M; ++r)
    slope[r / AG_LANES][r % AG_LANES] = p->alibi[b * p->alibi_str[0] + hq[r] * p->alibi_str[1]];
#endif
#if AG_HAS_DOCUMENT
  agvi qdoc[AG_RV];
  for (int r = 0; r < AG_BLOCK_M; ++r)
    qdoc[r / AG_LANES][r % AG_LANES] = live[r] ? p->q_doc[b * p->q_doc_str[0] + qi[r] * p->q_doc_str[1]] : 0;
#endif

  for (ag_i64 j0 = tile_lo; j0 <= tile_hi; j0 += AG_BLOCK_N) {
    const int n_keys = int(ag_min(AG_BLOCK_N, tile_hi + 1 - j0));
    const int n_pad = (n_keys + AG_NR - 1) / AG_NR * AG_NR;
    ag_load_rows(p->k, p->k_str, b, hk, j0, n_pad, ag_min(tile_hi + 1, kv_len), AG_HEAD_DIM, AG_D_PITCH, kb);
    ag_scores(qt, kb, n_pad, st, nv);

    // Scores -> masked, modded scores; the block's max per row.
    const bool whole = !AG_HAS_DATA_MASK && j0 >= all_lo && j0 + n_keys - 1 <= all_hi;
    agvi lo_rel[AG_RV], hi_rel[AG_RV];
    if (!whole) {
      for (int r = 0; r < AG_BLOCK_M; ++r) {
        // Relative to j0, clamped into int range (the interval may be far away).
        const ag_i64 a = ag_max(lo[r] - j0, -1), z = ag_min(hi[r] - j0, AG_BLOCK_N);
        lo_rel[r / AG_LANES][r % AG_LANES] = lo[r] > hi[r] ? AG_BLOCK_N + 1 : int(a);
        hi_rel[r / AG_LANES][r % AG_LANES] = lo[r] > hi[r] ? -2 : int(z);
      }
    }
    agv bm[AG_RV];
#pragma clang loop unroll(full)
    for (int r = 0; r < AG_RV; ++r) bm[r] = ag_splat(-ag_inf);
#if AG_HAS_ALIBI
    agv pos0[AG_RV];  // i' - j0 = i + Skv - Sq - j0 per row (exact below 2^24)
    for (int r = 0; r < AG_BLOCK_M; ++r) pos0[r / AG_LANES][r % AG_LANES] = float(qi[r] + ctx.skv - ctx.sq - j0);
#endif
    for (int n = 0; n < n_keys; ++n) {
      const ag_i64 j = j0 + n;
      (void)j;
#if AG_HAS_DOCUMENT
      const int kdoc = p->kv_doc[b * p->kv_doc_str[0] + j * p->kv_doc_str[1]];
#endif
#if AG_HAS_CUSTOM_BOOL || AG_HAS_CUSTOM_ADDITIVE
      float mv[AG_BLOCK_M];
      for (int r = 0; r < AG_BLOCK_M; ++r)
        mv[r] = live[r] ? ag_mask_value(p, b * p->mask_str[0] + hq[r] * p->mask_str[1] + qi[r] * p->mask_str[2] +
                                               j * p->mask_str[3])
                        : 0.0f;
#endif
#pragma clang loop unroll(full)
      for (int r = 0; r < AG_RV; ++r) {
        agv s = ag_load(st + n * AG_BLOCK_M + r * AG_LANES) * AG_SCALE;
        s = ag_softcap(s);
#if AG_HAS_ALIBI
        s = s - slope[r] * __builtin_elementwise_abs(pos0[r] - float(n));
#endif
#if AG_HAS_CUSTOM_ADDITIVE
        s = s + ag_load(mv + r * AG_LANES);
#endif
        if (!whole) {
          agvi ok = (lo_rel[r] <= n) & (hi_rel[r] >= n);
#if AG_HAS_DOCUMENT
          ok = ok & (qdoc[r] == kdoc);
#endif
#if AG_HAS_CUSTOM_BOOL
          ok = ok & (ag_load(mv + r * AG_LANES) != 0.0f);
#endif
          s = ag_select(ok, s, ag_splat(-ag_inf));
        }
        bad[r] = bad[r] | (s != s) | (s == ag_inf);  // NaN read, or an overflowing score: a NaN row
        bm[r] = __builtin_elementwise_max(bm[r], s);
        ag_store(st + n * AG_BLOCK_M + r * AG_LANES, s);
      }
    }
    for (int n = n_keys; n < n_pad; ++n)
      for (int r = 0; r < AG_RV; ++r) ag_store(st + n * AG_BLOCK_M + r * AG_LANES, ag_splat(-ag_inf));

    // Online softmax: rescale what was accumulated, exponentiate the block.
    agv shift[AG_RV];
#pragma clang loop unroll(full)
    for (int r = 0; r < AG_RV; ++r) {
      const agv m_new = __builtin_elementwise_max(m[r], bm[r]);
      shift[r] = ag_select(m_new == -ag_inf, ag_splat(0.0f), m_new);
      const agv alpha = ag_exp(m[r] - shift[r]);
      l[r] = l[r] * alpha;
      m[r] = m_new;
      for (int c = 0; c < AG_DV_PAD; ++c)
        ag_store(ot + c * AG_BLOCK_M + r * AG_LANES, ag_load(ot + c * AG_BLOCK_M + r * AG_LANES) * alpha);
    }
    for (int n = 0; n < n_pad; ++n) {
#pragma clang loop unroll(full)
      for (int r = 0; r < AG_RV; ++r) {
        const agv e = ag_exp(ag_load(st + n * AG_BLOCK_M + r * AG_LANES) - shift[r]);
        l[r] = l[r] + e;
        ag_store(st + n * AG_BLOCK_M + r * AG_LANES, e);
      }
    }
    ag_load_rows(p->v, p->v_str, b, hk, j0, n_pad, ag_min(tile_hi + 1, kv_len), AG_HEAD_DIM_V, AG_DV_PAD, vb);
    ag_accumulate(st, vb, n_pad, ot, nv);
  }

  // O = ot / l, transposed back; LSE = m + log(l).
  ag_elem* o = static_cast<ag_elem*>(p->o) + b * p->o_str[0];
  for (int r = 0; r < rows; ++r) {
    const int rv = r / AG_LANES, x = r % AG_LANES;
    const float lr = l[rv][x], mr = m[rv][x];
    const bool nan_row = bad[rv][x] != 0 || lr != lr;
    const bool empty = !nan_row && mr == -ag_inf;
    const float inv = nan_row ? __builtin_nanf("") : empty ? 0.0f : 1.0f / lr;
    ag_elem* orow = o + hq[r] * p->o_str[1] + qi[r] * p->o_str[2];
    for (int c = 0; c < AG_HEAD_DIM_V; ++c)
      orow[c * p->o_str[3]] = ag_from_float(nan_row ? inv : empty ? 0.0f : ot[c * AG_BLOCK_M + r] * inv);
#if AG_RETURN_LSE
    p->lse[b * p->lse_str[0] + hq[r] * p->lse_str[1] + qi[r] * p->lse_str[2]] =
        nan_row ? __builtin_nanf("") : empty ? -ag_inf : mr + __builtin_logf(lr);
#endif
  }
}

// The whole call on the calling thread, items one after another.
void AG_FN(run)(const AttnParams* p, void* scratch) {
  const ag_i64 n = AG_FN(items)(p);
  for (ag_i64 i = 0; i < n; ++i) AG_FN(run_item)(p, i, scratch);
}

}  // extern "C"
