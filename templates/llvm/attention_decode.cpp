// attngen's decode path of the CPU kernel (llvm backend), rendered after
// templates/llvm/attention_cpu.cpp (whose element type, mask reads and scratch
// constants it uses), whose run_item calls ag_decode for an item with at most
// AG_DEC_ROWS live rows: a decode step (Sq 1) of a GQA group. Rows in lanes
// would fill few lanes there, so here the lanes hold keys and head dims
// instead: a score is a dot product over d whose AG_LANES partial sums are
// folded for AG_LANES keys at once (ag_sums), the masks and the softmax run
// on vectors of keys, and O accumulates as rows of Dv (o[r][dv] += p[r][n] *
// v[n][dv]). Each vector op is then fully used.
//
// The products read K and V where they lie, converting as they load (each
// element is loaded once per item): the loads overlap the FMAs, where a copy
// into scratch first would wait for them. Rows that are not contiguous, or
// head dims that are not multiples of 16, are gathered into scratch first.

#if AG_DTYPE == AG_DTYPE_F32
AG_INLINE agv ag_loadv(const ag_elem* p) { return ag_load(p); }
#elif AG_DTYPE == AG_DTYPE_BF16
typedef ag_u16 agvh __attribute__((ext_vector_type(AG_LANES)));
AG_INLINE agv ag_loadv(const ag_elem* p) {
  agvh h;
  __builtin_memcpy(&h, p, sizeof h);
  return __builtin_bit_cast(agv, __builtin_convertvector(h, agvu) << 16);
}
#elif defined(__F16C__) || defined(__aarch64__)
typedef _Float16 agvh __attribute__((ext_vector_type(AG_LANES)));
AG_INLINE agv ag_loadv(const ag_elem* p) {
  agvh h;
  __builtin_memcpy(&h, p, sizeof h);
  return __builtin_convertvector(h, agv);
}
#else
AG_INLINE agv ag_loadv(const ag_elem* p) {
  agv v;
  for (int x = 0; x < AG_LANES; ++x) v[x] = ag_to_float(p[x]);
  return v;
}
#endif
// Rows are read in place when whole vectors (up to 16 lanes) stay within them.
#define AG_DEC_DIRECT (AG_HEAD_DIM % 16 == 0 && AG_HEAD_DIM_V % 16 == 0)

// The largest power of two <= x and <= cap that divides `of`.
constexpr int ag_pow2_tile(int x, int cap, int of) {
  int t = 1;
  while (t * 2 <= x && t * 2 <= cap && of % (t * 2) == 0) t *= 2;
  return t;
}
#define AG_ACC (AG_NR * AG_RV)  // accumulator registers the tile path uses

// sd[r][n] = q_r . k_n for the block's n_keys keys (K row n at k + n * ks,
// AG_D_PITCH elements), rounded up to AG_LANES keys: the padding keys re-read
// the last key (their scores are masked). part: R x AG_LANES partial sums.
template <int R>
AG_INLINE void ag_dec_scores(const float* qd, const ag_elem* k, ag_i64 ks, int n_keys, float* sd, float* part) {
  constexpr int KT = ag_pow2_tile(AG_ACC / R, AG_LANES, AG_LANES);  // keys per register tile
  for (int c0 = 0; c0 < n_keys; c0 += AG_LANES) {
    for (int k0 = 0; k0 < AG_LANES; k0 += KT) {
      const ag_elem* kr[KT];
      agv acc[R][KT];
#pragma clang loop unroll(full)
      for (int x = 0; x < KT; ++x) {
        const int n = c0 + k0 + x;
        kr[x] = k + (n < n_keys ? n : n_keys - 1) * ks;
#pragma clang loop unroll(full)
        for (int r = 0; r < R; ++r) acc[r][x] = ag_splat(0.0f);
      }
      for (int d = 0; d < AG_D_PITCH; d += AG_LANES) {
        agv kv[KT];
#pragma clang loop unroll(full)
        for (int x = 0; x < KT; ++x) kv[x] = ag_loadv(kr[x] + d);
#pragma clang loop unroll(full)
        for (int r = 0; r < R; ++r) {
          const agv qv = ag_load(qd + r * AG_D_PITCH + d);
#pragma clang loop unroll(full)
          for (int x = 0; x < KT; ++x) acc[r][x] = qv * kv[x] + acc[r][x];
        }
      }
#pragma clang loop unroll(full)
      for (int r = 0; r < R; ++r)
#pragma clang loop unroll(full)
        for (int x = 0; x < KT; ++x) ag_store(part + (r * AG_LANES + k0 + x) * AG_LANES, acc[r][x]);
    }
#pragma clang loop unroll(full)
    for (int r = 0; r < R; ++r) {
      agv v[AG_LANES];
#pragma clang loop unroll(full)
      for (int x = 0; x < AG_LANES; ++x) v[x] = ag_load(part + (r * AG_LANES + x) * AG_LANES);
      ag_store(sd + r * AG_DEC_BN + c0, ag_sums(v));
    }
  }
}

// od[r][dv] += sum_n sd[r][n] * v_n[dv] over the block's n_keys keys (V row n
// at v + n * vs, AG_DV_PITCH elements).
template <int R>
AG_INLINE void ag_dec_accumulate(const float* sd, const ag_elem* v, ag_i64 vs, int n_keys, float* od) {
  constexpr int C = ag_pow2_tile(AG_ACC / R, 4, AG_DV_PITCH / AG_LANES);  // Dv vectors per register tile
  for (int c0 = 0; c0 < AG_DV_PITCH; c0 += C * AG_LANES) {
    agv acc[R][C];
#pragma clang loop unroll(full)
    for (int r = 0; r < R; ++r)
#pragma clang loop unroll(full)
      for (int c = 0; c < C; ++c) acc[r][c] = ag_load(od + r * AG_DV_PITCH + c0 + c * AG_LANES);
    for (int n = 0; n < n_keys; ++n) {
      agv vv[C];
#pragma clang loop unroll(full)
      for (int c = 0; c < C; ++c) vv[c] = ag_loadv(v + n * vs + c0 + c * AG_LANES);
#pragma clang loop unroll(full)
      for (int r = 0; r < R; ++r) {
        const agv pv = ag_splat(sd[r * AG_DEC_BN + n]);
#pragma clang loop unroll(full)
        for (int c = 0; c < C; ++c) acc[r][c] = pv * vv[c] + acc[r][c];
      }
    }
#pragma clang loop unroll(full)
    for (int r = 0; r < R; ++r)
#pragma clang loop unroll(full)
      for (int c = 0; c < C; ++c) ag_store(od + r * AG_DV_PITCH + c0 + c * AG_LANES, acc[r][c]);
  }
}

// Rows [j0, j0 + n) of head hk of K or V where the products read them: in
// place if contiguous and a multiple of 16 long, else gathered into
// dst[n][pitch] (zero-padded), with their stride in *rs.
AG_INLINE const ag_elem* ag_dec_rows(const void* base, const ag_i64* str, ag_i64 b, ag_i64 hk, ag_i64 j0, int n,
                                     int cols, int pitch, ag_elem* dst, ag_i64* rs) {
  const ag_elem* src = static_cast<const ag_elem*>(base) + b * str[0] + hk * str[1] + j0 * str[2];
  if (AG_DEC_DIRECT && str[3] == 1) return *rs = str[2], src;
  for (int r = 0; r < n; ++r) {
    const ag_elem* row = src + r * str[2];
    ag_elem* out = dst + r * pitch;
    if (str[3] == 1) {
      for (int c = 0; c < pitch; ++c) out[c] = c < cols ? row[c] : ag_elem(0);
    } else {
      // A D stride other than 1 (allowed, rare) stays a plain loop: clang
      // would unroll short rows into vector gathers, for up to six times the
      // kernel's compile time (f16, D 32: 3.3 s).
#pragma clang loop unroll(disable) vectorize(disable)
      for (int c = 0; c < pitch; ++c) out[c] = c < cols ? row[c * str[3]] : ag_elem(0);
    }
  }
  return *rs = pitch, dst;
}

// A product on `n` rows: AG_DEC_PASS of them, or one when n is 1 (an instance
// for 2 or 3 rows would cost compile time for little: the loads of K and V
// dominate). More live rows run in passes of AG_DEC_PASS, the later passes
// reading the block's K and V again from L1.
#define AG_DEC_ON_ROWS(f, n, ...) ((n) > 1 ? f<AG_DEC_PASS>(__VA_ARGS__) : f<1>(__VA_ARGS__))

// The item's rows [0, n_live) (n_live <= AG_DEC_ROWS) are live, rows
// [n_live, rows) are written out as empty; lo/hi, tile_lo/tile_hi as in run_item.
static __attribute__((noinline)) void ag_decode(const AttnParams* p, ag_i64 b, ag_i64 hk, int rows, int n_live,
                                                const ag_i64* qi, const ag_i64* hq, const ag_i64* lo,
                                                const ag_i64* hi, const AgRowCtx& ctx, ag_i64 tile_lo,
                                                ag_i64 tile_hi, ag_i64 kv_len, float* scratch) {
  float* qd = scratch;
  float* od = qd + AG_DEC_ROWS * AG_D_PITCH;
  float* sd = od + AG_DEC_ROWS * AG_DV_PITCH;
  float* part = sd + AG_DEC_ROWS * AG_DEC_BN;
  ag_elem* kb = reinterpret_cast<ag_elem*>(part + AG_DEC_PASS * AG_LANES * AG_LANES);
  ag_elem* vb = reinterpret_cast<ag_elem*>(part + AG_DEC_PASS * AG_LANES * AG_LANES + AG_KB_FLOATS);
  tile_hi = ag_min(tile_hi, kv_len - 1);  // (allowed_keys keeps it there already)
  (void)ctx;

  const ag_elem* q = static_cast<const ag_elem*>(p->q) + b * p->q_str[0];
  for (int r = 0; r < AG_DEC_ROWS; ++r)
    for (int d = 0; d < AG_D_PITCH; ++d)
      qd[r * AG_D_PITCH + d] =
          r < n_live && d < AG_HEAD_DIM ? ag_to_float(q[hq[r] * p->q_str[1] + qi[r] * p->q_str[2] + d * p->q_str[3]])
                                        : 0.0f;
  for (int c = 0; c < AG_DEC_ROWS * AG_DV_PITCH; ++c) od[c] = 0.0f;

  agvi iota;
  for (int x = 0; x < AG_LANES; ++x) iota[x] = x;
  float m[AG_DEC_ROWS];
  agv l[AG_DEC_ROWS];
  agvi bad[AG_DEC_ROWS];
  ag_i64 all_lo = 0, all_hi = kv_len - 1;  // keys every live row allows
  for (int r = 0; r < AG_DEC_ROWS; ++r) {
    m[r] = -ag_inf, l[r] = ag_splat(0.0f), bad[r] = (agvi)(0);
    if (r < n_live) all_lo = ag_max(all_lo, lo[r]), all_hi = ag_min(all_hi, hi[r]);
  }
#if AG_HAS_ALIBI
  float slope[AG_DEC_ROWS];
  for (int r = 0; r < AG_DEC_ROWS; ++r)
    slope[r] = r < n_live ? p->alibi[b * p->alibi_str[0] + hq[r] * p->alibi_str[1]] : 0.0f;
#endif
#if AG_HAS_DOCUMENT
  int qdoc[AG_DEC_ROWS];
  for (int r = 0; r < AG_DEC_ROWS; ++r)
    qdoc[r] = r < n_live ? p->q_doc[b * p->q_doc_str[0] + qi[r] * p->q_doc_str[1]] : 0;
#endif

  for (ag_i64 j0 = tile_lo; j0 <= tile_hi; j0 += AG_DEC_BN) {
    const int n_keys = int(ag_min(AG_DEC_BN, tile_hi + 1 - j0));
    const int n_pad = (n_keys + AG_LANES - 1) / AG_LANES * AG_LANES;
    ag_i64 ks, vs;
    const ag_elem* k = ag_dec_rows(p->k, p->k_str, b, hk, j0, n_keys, AG_HEAD_DIM, AG_D_PITCH, kb, &ks);
    for (int r0 = 0; r0 < n_live; r0 += AG_DEC_PASS)
      AG_DEC_ON_ROWS(ag_dec_scores, n_live - r0, qd + r0 * AG_D_PITCH, k, ks, n_keys, sd + r0 * AG_DEC_BN, part);

    // Masked, modded scores by row; the online softmax per row. Padding keys
    // (past n_keys) are outside every row's interval.
    const bool whole = !AG_HAS_DATA_MASK && n_keys == n_pad && j0 >= all_lo && j0 + n_keys - 1 <= all_hi;
#if AG_HAS_DOCUMENT
    int kdoc[AG_DEC_BN];
    for (int n = 0; n < n_pad; ++n)
      kdoc[n] = n < n_keys ? p->kv_doc[b * p->kv_doc_str[0] + (j0 + n) * p->kv_doc_str[1]] : 0;
#endif
    for (int r = 0; r < n_live; ++r) {  // the products' other rows are never read
      const bool none = lo[r] > hi[r];
      // Relative to j0, clamped into int range (the interval may be far away).
      const int lo_rel = none ? AG_DEC_BN + 1 : int(ag_max(lo[r] - j0, -1));
      const int hi_rel = none ? -2 : int(ag_min(hi[r] - j0, AG_DEC_BN));
#if AG_HAS_ALIBI
      const float pos0 = float(qi[r] + ctx.skv - ctx.sq - j0);  // i' - j0 (exact below 2^24)
#endif
      float* srow = sd + r * AG_DEC_BN;
      agv bm = ag_splat(-ag_inf);
      for (int c0 = 0; c0 < n_pad; c0 += AG_LANES) {
        const agvi n = iota + c0;
        agv s = ag_load(srow + c0) * AG_SCALE;
        s = ag_softcap(s);
#if AG_HAS_ALIBI
        s = s - slope[r] * __builtin_elementwise_abs(pos0 - __builtin_convertvector(n, agv));
#endif
#if AG_HAS_CUSTOM_BOOL || AG_HAS_CUSTOM_ADDITIVE
        agv mv = ag_splat(0.0f);
        for (int x = 0; x < AG_LANES; ++x)
          if (c0 + x < n_keys)
            mv[x] = ag_mask_value(p, b * p->mask_str[0] + hq[r] * p->mask_str[1] + qi[r] * p->mask_str[2] +
                                         (j0 + c0 + x) * p->mask_str[3]);
#endif
#if AG_HAS_CUSTOM_ADDITIVE
        s = s + mv;
#endif
        if (!whole) {
          agvi ok = (n >= lo_rel) & (n <= hi_rel);
#if AG_HAS_DOCUMENT
          ok = ok & (ag_loadi(kdoc + c0) == qdoc[r]);
#endif
#if AG_HAS_CUSTOM_BOOL
          ok = ok & (mv != 0.0f);
#endif
          s = ag_select(ok, s, ag_splat(-ag_inf));
        }
        bad[r] = bad[r] | (s != s) | (s == ag_inf);  // NaN read, or an overflowing score: a NaN row
        bm = __builtin_elementwise_max(bm, s);
        ag_store(srow + c0, s);
      }
      const float m_new = __builtin_elementwise_max(m[r], ag_hmax(bm));
      const float shift = m_new == -ag_inf ? 0.0f : m_new;
      const float alpha = ag_exp(ag_splat(m[r] - shift))[0];
      m[r] = m_new;
      l[r] = l[r] * alpha;
      for (int c = 0; c < AG_DV_PITCH; c += AG_LANES)
        ag_store(od + r * AG_DV_PITCH + c, ag_load(od + r * AG_DV_PITCH + c) * alpha);
      for (int c0 = 0; c0 < n_pad; c0 += AG_LANES) {
        const agv e = ag_exp(ag_load(srow + c0) - shift);
        l[r] = l[r] + e;
        ag_store(srow + c0, e);
      }
    }
    const ag_elem* v = ag_dec_rows(p->v, p->v_str, b, hk, j0, n_keys, AG_HEAD_DIM_V, AG_DV_PITCH, vb, &vs);
    for (int r0 = 0; r0 < n_live; r0 += AG_DEC_PASS)
      AG_DEC_ON_ROWS(ag_dec_accumulate, n_live - r0, sd + r0 * AG_DEC_BN, v, vs, n_keys, od + r0 * AG_DV_PITCH);
  }

  // O = od / l; LSE = m + log(l).
  ag_elem* o = static_cast<ag_elem*>(p->o) + b * p->o_str[0];
  for (int r = 0; r < rows; ++r) {
    float lr = 0.0f, mr = -ag_inf;
    bool nan_row = false;
    if (r < n_live) lr = ag_hsum(l[r]), mr = m[r], nan_row = __builtin_reduce_or(bad[r]) != 0 || lr != lr;
    const bool empty = !nan_row && mr == -ag_inf;
    const float inv = nan_row ? __builtin_nanf("") : empty ? 0.0f : 1.0f / lr;
    ag_elem* orow = o + hq[r] * p->o_str[1] + qi[r] * p->o_str[2];
    for (int c = 0; c < AG_HEAD_DIM_V; ++c)
      orow[c * p->o_str[3]] = ag_from_float(nan_row ? inv : empty ? 0.0f : od[r * AG_DV_PITCH + c] * inv);
#if AG_RETURN_LSE
    p->lse[b * p->lse_str[0] + hq[r] * p->lse_str[1] + qi[r] * p->lse_str[2]] =
        nan_row ? __builtin_nanf("") : empty ? -ag_inf : mr + __builtin_logf(lr);
#endif
  }
}

