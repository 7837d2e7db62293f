// What every CUDA attention kernel of attngen shares: element types,
// the spec's scores and masks per (row, key), the online softmax's steps, the
// tile's key-block range and its classification, shared-memory tile loads and
// the output's stores.
//
// codegen/cuda/render.cpp prepends templates/common/attention_params.h and a
// prelude of compile-time constants and device functions rendered from the
// spec (AG_* below: dtype, head dims, tile shape, which masks and score mods
// exist, and `allowed_keys`, the AND of the index masks as one key interval
// per query row), then appends one kernel body, ag_attention<SPLIT>:
// attention_fwd_mma.cu (f16/bf16, mma.sync; attention_fwd_decode.cu, the
// decoding tile of key-split warps, both after mma_tiles.cuh), attention_fwd_wgmma.cu
// (f16/bf16, sm_90a warpgroup MMA) or attention_fwd_simt.cu (f32), and
// attention_entries.cu (the entry points: whole key ranges, split-KV's shares,
// the merge of the shares). Nothing here branches at run time on the kind of
// mask.
//
// Each block owns BLOCK_M rows of one batch entry: query rows of one query
// head, or, with GQA packing, (query, head) rows of one KV group's heads
// (ag_tile), and walks the key blocks that the index masks allow (with
// split-KV, its share of them), with an online softmax whose exponents are
// base 2. Key blocks allowed for every row
// of the tile skip the per-element mask work.
//
// Semantics are spec v1 (docs/spec.md): rows past q_lens and rows with no
// allowed key output O = 0 and LSE = -inf; a row that reads NaN/Inf (or whose
// score overflows) outputs NaN; positions past the lengths are never read
// (shared memory is zero-filled there instead).

#define AG_INF __int_as_float(0x7f800000)
#define AG_LOG2E 1.4426950408889634f
#define AG_LN2 0.6931471805599453f
#define AG_HAS_CUSTOM (AG_HAS_CUSTOM_BOOL || AG_HAS_CUSTOM_ADDITIVE)

__device__ __forceinline__ ag_i64 ag_min(ag_i64 a, ag_i64 b) { return a < b ? a : b; }
__device__ __forceinline__ ag_i64 ag_max(ag_i64 a, ag_i64 b) { return a > b ? a : b; }
__device__ __forceinline__ unsigned ag_umin(unsigned a, unsigned b) { return a < b ? a : b; }

// ---- element types (the conversions done by PTX are in ptx.cuh)
__device__ __forceinline__ float ag_bf16_to_float(unsigned short u) { return __int_as_float(int(unsigned(u) << 16)); }

#if AG_DTYPE == AG_DTYPE_F32
typedef float ag_elem;
__device__ __forceinline__ float ag_to_float(ag_elem x) { return x; }
__device__ __forceinline__ ag_elem ag_from_float(float x) { return x; }
#else
typedef unsigned short ag_elem;
#if AG_DTYPE == AG_DTYPE_BF16
__device__ __forceinline__ float ag_to_float(ag_elem x) { return ag_bf16_to_float(x); }
__device__ __forceinline__ ag_elem ag_from_float(float x) { return ag_float_to_bf16(x); }
#else
__device__ __forceinline__ float ag_to_float(ag_elem x) { return ag_half_to_float(x); }
__device__ __forceinline__ ag_elem ag_from_float(float x) { return ag_float_to_half(x); }
#endif
#endif

// ---- what one query row needs to score keys (lengths, interval, row data)
struct AgRow {
  ag_i64 i;       // query index
  int dh;         // query head e.h + dh (0 unless packed)
  ag_i64 lo, hi;  // keys allowed by the index masks (lo > hi: none)
  int doc;        // document: q_doc[b, i]
  float slope;    // alibi: slopes[b, h]
};

// A block's rows. Unpacked (grid y = the query heads): row x of the launch is
// query x of head blockIdx.y. GQA-packed (grid y = the KV heads, chosen by the
// host where it needs fewer blocks: short Sq, decoding): row x is query x / G
// of head h + x % G, so a block's rows are the group's heads for each of its
// queries, K and V are read once for all of them, and the query of a row
// never decreases with x (the index masks' intervals stay monotone in x).
//
// Split-KV (the SPLIT instance of the kernel, grid z = B x splits, chosen by
// the host where the blocks would not fill the GPU: kv_splits in
// codegen/cuda/render.cpp): split s of a tile walks the s-th share of its key
// blocks and stores the rows' partial O and LSE (AgPartial);
// attention_entries.cu then merges the splits.
struct AgEntry {
  ag_i64 b, h, hk;  // batch entry; the query head (packed: the group's first); the KV head
  bool packed;
  AgRowCtx ctx;  // per-entry Sq, Skv, prefix (rendered type, see the prelude)
};
// The launch's key splits and this block's (read from the grid where needed,
// so that nothing of them stays in registers through the key loop).
// 32-bit: a 64-bit division here costs the kernel body 20-30 registers.
__device__ __forceinline__ unsigned ag_splits(const AttnParams& p) { return gridDim.z / unsigned(p.batch); }
__device__ __forceinline__ unsigned ag_split(const AttnParams& p) { return blockIdx.z / unsigned(p.batch); }

__device__ __forceinline__ ag_i64 ag_query_of(const AgEntry& e, ag_i64 x) { return e.packed ? x / AG_GROUP : x; }

__device__ __forceinline__ AgRow ag_row(const AttnParams& p, const AgEntry& e, ag_i64 x) {
  AgRow r;
  r.i = ag_query_of(e, x);
  r.dh = e.packed ? int(x % AG_GROUP) : 0;
  allowed_keys(r.i, e.ctx, r.lo, r.hi);
  r.hi = ag_min(r.hi, e.ctx.skv - 1);
  r.lo = ag_max(r.lo, 0);
  if (AG_HAS_CUSTOM && r.i >= e.ctx.sq) r.lo = 1, r.hi = 0;  // past Sq: no key, no mask read (ag_score)
  r.doc = 0;
  r.slope = 0.f;
  if (AG_HAS_DOCUMENT && r.i < e.ctx.sq) r.doc = p.q_doc[e.b * p.q_doc_str[0] + r.i * p.q_doc_str[1]];
  if (AG_HAS_ALIBI) r.slope = p.alibi[e.b * p.alibi_str[0] + (e.h + r.dh) * p.alibi_str[1]];
  return r;
}

__device__ __forceinline__ float ag_custom_mask_value(const AttnParams& p, const AgEntry& e, const AgRow& r, ag_i64 j) {
  const ag_i64 off = e.b * p.mask_str[0] + (e.h + r.dh) * p.mask_str[1] + r.i * p.mask_str[2] + j * p.mask_str[3];
  switch (p.mask_type) {
    case AG_MASK_F32: return static_cast<const float*>(p.mask)[off];
    case AG_MASK_F16: return ag_half_to_float(static_cast<const unsigned short*>(p.mask)[off]);
    case AG_MASK_BF16: return ag_bf16_to_float(static_cast<const unsigned short*>(p.mask)[off]);
    default: return static_cast<const unsigned char*>(p.mask)[off] != 0 ? 1.f : 0.f;
  }
}

// Scores are kept in "score units": the raw q.k product when the score is
// plain (no score mod, no additive mask), else the score itself; the scale to
// the log2 domain is applied inside the exponent's FMA (ag_prob), so a plain
// score costs nothing before its maximum and exponent.
#if AG_PLAIN_SCORE
#define AG_EXP2_SCALE AG_SCALE_LOG2
#else
#define AG_EXP2_SCALE AG_LOG2E
#endif

// The score of (row, key j) in score units from the raw q.k product: scale,
// softcap, ALiBi, additive mask, then -inf where any mask disallows (spec v1,
// "Order of operations"; a disallowed key's score is -inf whatever the
// additive mask holds). `full`: the key block is allowed for every row of the
// tile by the index masks, so only data masks remain to check.
template <bool full>
__device__ __forceinline__ float ag_score(float qk, const AttnParams& p, const AgEntry& e, const AgRow& r, ag_i64 j) {
  if (full && AG_PLAIN_SCORE && !AG_HAS_DATA_MASK) return qk;
  float s = AG_PLAIN_SCORE ? qk : qk * AG_SCALE;
  s = ag_softcap(s);
  if (AG_HAS_ALIBI) {
    const ag_i64 d = r.i + e.ctx.skv - e.ctx.sq - j;
    s -= r.slope * float(d < 0 ? -d : d);
  }
  bool ok = true;
  if (!full) ok = j >= r.lo && j <= r.hi;
  if (AG_HAS_DOCUMENT) ok = ok && p.kv_doc[e.b * p.kv_doc_str[0] + j * p.kv_doc_str[1]] == r.doc;
  // The custom mask is read only where the key is allowed so far: a row past
  // Sq has no allowed key (ag_row) and is never in a full block (ag_tile), so
  // no mask row past the tensor's end is read.
  if (AG_HAS_CUSTOM_BOOL) ok = ok && ag_custom_mask_value(p, e, r, j) != 0.f;
  if (AG_HAS_CUSTOM_ADDITIVE && ok) s += ag_custom_mask_value(p, e, r, j);
  return ok ? s : -AG_INF;
}

// ---- the online softmax of one row, in score units (m, mx) and log2 units (base)
//
// One step for a block whose maximum, with the running maximum m, is mx:
// returns the factor for what the row accumulated so far and sets base, the
// offset of the exponent (0 while no key is allowed: exp2(-inf - 0) = 0, not
// NaN). The factor is exactly 1 when the maximum did not move (ex2(0) = 1), so
// a warp whose rows all kept theirs skips the rescale.
__device__ __forceinline__ float ag_softmax_step(float& m, float mx, float& base) {
  const float alpha = mx == -AG_INF ? 1.f : ag_exp2((m - mx) * AG_EXP2_SCALE);
  base = mx == -AG_INF ? 0.f : mx * AG_EXP2_SCALE;
  m = mx;
  return alpha;
}
// A row's maximum and sum over the quad of lanes that holds it (both paths
// keep a row in 4 neighbouring lanes).
__device__ __forceinline__ float ag_quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
__device__ __forceinline__ float ag_quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}
__device__ __forceinline__ float ag_prob(float s, float base) { return ag_exp2(fmaf(s, AG_EXP2_SCALE, -base)); }
// A block's sum of probabilities; NaN when its maximum overflowed the log2
// domain (base = +inf), which would otherwise give every key 0 and pass the
// row off as empty: a score that overflows makes the row NaN (spec v1).
__device__ __forceinline__ float ag_block_sum(float sum, float base) {
  return base == AG_INF ? __int_as_float(0x7fc00000) : sum;
}

// ---- the block's work: its entry, its rows and the key blocks to visit
// A key block's index: 32 bits (a K of 2^31 blocks would not fit a GPU), which
// keeps the loop's registers low enough that the split instance does not spill.
typedef int ag_block;
__device__ __forceinline__ ag_i64 ag_block_key(ag_block nb) { return ag_i64(nb) * AG_BLOCK_N; }  // its first key

struct AgTile {
  AgEntry e;
  ag_i64 x0, x_end;       // the tile's first row, the end of the entry's valid rows (AgEntry)
  ag_block nb_begin, nb_end;  // key blocks to visit
  ag_block full_begin, full_end;  // key blocks allowed for every valid row (index masks)
};

template <bool SPLIT>
__device__ __forceinline__ AgTile ag_tile(const AttnParams& p) {
  AgTile t;
  // Heavy (late, for causal masks) tiles first: they start before the light ones.
  const ag_i64 qt = ag_i64(gridDim.x) - 1 - blockIdx.x;
  t.e.b = SPLIT ? blockIdx.z % unsigned(p.batch) : blockIdx.z;
  t.e.packed = AG_GROUP > 1 && gridDim.y == AG_NUM_HEADS / AG_GROUP;
  t.e.hk = t.e.packed ? blockIdx.y : blockIdx.y / AG_GROUP;
  t.e.h = t.e.packed ? blockIdx.y * AG_GROUP : blockIdx.y;
  ag_i64 sq = p.sq, skv = p.skv;
  if (p.q_lens) sq = ag_max(0, ag_min(p.sq, p.q_lens[t.e.b * p.q_lens_str]));
  if (p.kv_lens) skv = ag_max(0, ag_min(p.skv, p.kv_lens[t.e.b * p.kv_lens_str]));
  t.e.ctx.sq = sq;
  t.e.ctx.skv = skv;
  t.e.ctx.prefix = ag_static_prefix();
  if (p.prefix_lens) t.e.ctx.prefix = p.prefix_lens[t.e.b * p.prefix_lens_str];
  t.x0 = qt * AG_BLOCK_M;
  t.x_end = t.e.packed ? sq * AG_GROUP : sq;
  t.nb_begin = t.nb_end = t.full_begin = t.full_end = 0;
  const ag_i64 x_last = ag_min(t.x0 + AG_BLOCK_M, t.x_end) - 1;  // last valid row
  if (x_last < t.x0 || skv == 0) return t;
  // Each index mask allows one interval per query whose ends never decrease
  // with i, so the tile's keys lie in [lo(i0), hi(last)] and keys in
  // [lo(last), hi(i0)] are allowed for every row (i0, last: the queries of
  // its first and last valid rows).
  const ag_i64 i0 = ag_query_of(t.e, t.x0), last = ag_query_of(t.e, x_last);
  ag_i64 lo0, hi0, lo1, hi1;
  allowed_keys(i0, t.e.ctx, lo0, hi0);
  allowed_keys(last, t.e.ctx, lo1, hi1);
  lo0 = ag_max(lo0, 0);
  hi1 = ag_min(hi1, skv - 1);
  if (lo0 > hi1) return t;
  t.nb_begin = ag_block(lo0 / AG_BLOCK_N);
  t.nb_end = ag_block(hi1 / AG_BLOCK_N + 1);
  // Whole blocks inside [lo(last), min(hi(i0), skv - 1)]; with a custom
  // mask, none in a tile with rows past Sq (they must see their empty
  // interval, so that their mask rows are not read: ag_score).
  hi0 = ag_min(hi0, skv - 1);
  if (AG_HAS_DATA_MASK || lo1 > hi0 || (AG_HAS_CUSTOM && x_last + 1 < t.x0 + AG_BLOCK_M)) {
    t.full_begin = t.full_end = t.nb_end;
  } else {
    t.full_begin = ag_block((ag_max(lo1, 0) + AG_BLOCK_N - 1) / AG_BLOCK_N);
    t.full_end = ag_block((hi0 + 1) / AG_BLOCK_N);
    if (t.full_end <= t.full_begin) t.full_begin = t.full_end = t.nb_end;
  }
  if (SPLIT) {  // this split's share of the key blocks (the full ones stay the tile's)
    const unsigned splits = ag_splits(p), n = unsigned(t.nb_end - t.nb_begin);
    const unsigned per = (n + splits - 1) / splits, s0 = ag_umin(n, ag_split(p) * per),
                   s1 = ag_umin(n, s0 + per);
    t.nb_end = t.nb_begin + int(s1);
    t.nb_begin += int(s0);
  }
  return t;
}

// ---- loading a tile of rows into shared memory, zero past the valid rows and columns
//
// The fast path copies 16-byte chunks with cp.async (zero-filled where
// invalid); it needs unit column stride, 16-byte aligned rows and a head dim
// that is a multiple of the chunk.
constexpr int AG_CHUNK = 16 / int(sizeof(ag_elem));  // elements per 16-byte chunk

// A rank-4 view's rows for one (b, head): base, row stride, column stride.
struct AgRows {
  const ag_elem* base;
  ag_i64 row_str, col_str;
  bool chunked;  // the cp.async path applies
  __device__ ag_i64 offset(ag_i64 row) const { return row * row_str; }
};
// Q's rows for a block's rows (AgEntry): queries of one head, or packed,
// query x / G of head x % G from `base` (the group's first head).
struct AgQueryRows : AgRows {
  ag_i64 head_str;
  bool packed;
  __device__ ag_i64 offset(ag_i64 x) const {
    return packed ? x / AG_GROUP * row_str + x % AG_GROUP * head_str : x * row_str;
  }
};

__device__ __forceinline__ AgRows ag_rows(const void* data, const ag_i64* str, ag_i64 b, ag_i64 h, int cols) {
  AgRows r;
  r.base = static_cast<const ag_elem*>(data) + b * str[0] + h * str[1];
  r.row_str = str[2];
  r.col_str = str[3];
  const bool aligned = (reinterpret_cast<unsigned long long>(data) & 15) == 0;
  r.chunked = aligned && str[3] == 1 && cols % AG_CHUNK == 0 && str[0] % AG_CHUNK == 0 && str[1] % AG_CHUNK == 0 &&
              str[2] % AG_CHUNK == 0;
  return r;
}

// Q, K and V of the tile's entry (K and V of its KV head).
struct AgViews {
  AgQueryRows q;
  AgRows k, v;
};
__device__ __forceinline__ AgViews ag_views(const AttnParams& p, const AgEntry& e) {
  AgViews v;
  static_cast<AgRows&>(v.q) = ag_rows(p.q, p.q_str, e.b, e.h, AG_HEAD_DIM);
  v.q.head_str = p.q_str[1];
  v.q.packed = e.packed;
  v.k = ag_rows(p.k, p.k_str, e.b, e.hk, AG_HEAD_DIM);
  v.v = ag_rows(p.v, p.v_str, e.b, e.hk, AG_HEAD_DIM_V);
  return v;
}

// Where row r, column col of a tile goes in shared memory, and which chunk of
// 16 bytes the c-th copy moves (consecutive threads write consecutive chunks).
// Rows PITCH elements apart (mma.sync and the f32 kernel).
template <int COLS_PAD, int PITCH>
struct AgPitched {
  __device__ static int at(int r, int col) { return r * PITCH + col; }
  __device__ static void chunk(int c, int& r, int& col) {
    r = c / (COLS_PAD / AG_CHUNK);
    col = c % (COLS_PAD / AG_CHUNK) * AG_CHUNK;
  }
};

// The cp.async path's c-th chunk of a tile (zero-filled past the valid rows
// and columns).
template <int COLS, class Layout, class Rows>
__device__ __forceinline__ void ag_load_chunk(ag_elem* smem, const Rows& src, ag_i64 row0, ag_i64 row_end, int c) {
  int r, col;
  Layout::chunk(c, r, col);
  const ag_i64 row = row0 + r;
  const bool valid = row < row_end && col < COLS;
  // An invalid chunk reads nothing (source size 0) but needs a valid address.
  const ag_elem* g = valid ? src.base + src.offset(row) + col : src.base;
  ag_cp_async16(smem + Layout::at(r, col), g, valid);
}
// The element-wise path's x-th element of a tile (any strides; zero past the
// valid rows and columns).
template <int COLS, int COLS_PAD, class Layout, class Rows>
__device__ __forceinline__ void ag_load_element(ag_elem* smem, const Rows& src, ag_i64 row0, ag_i64 row_end, int x) {
  const int r = x / COLS_PAD, col = x % COLS_PAD;
  const ag_i64 row = row0 + r;
  smem[Layout::at(r, col)] =
      row < row_end && col < COLS ? src.base[src.offset(row) + col * src.col_str] : ag_from_float(0.f);
}

// rows [row0, row0 + ROWS) of `src` (valid below `row_end`), COLS of COLS_PAD,
// by THREADS threads (`thread`: the caller's index among them).
template <int ROWS, int COLS, int COLS_PAD, class Layout, int THREADS = AG_THREADS, class Rows>
__device__ __forceinline__ void ag_load_tile(ag_elem* smem, const Rows& src, ag_i64 row0, ag_i64 row_end,
                                             int thread = threadIdx.x) {
  if (src.chunked) {
    for (int c = thread; c < ROWS * COLS_PAD / AG_CHUNK; c += THREADS)
      ag_load_chunk<COLS, Layout>(smem, src, row0, row_end, c);
  } else {
    for (int x = thread; x < ROWS * COLS_PAD; x += THREADS)
      ag_load_element<COLS, COLS_PAD, Layout>(smem, src, row0, row_end, x);
  }
}

// ---- storing one output row element pair / the LSE
struct AgOut {
  ag_elem* base;  // at (b, e.h)
  ag_i64 head_str, row_str, col_str;
  bool pairs;  // two neighbouring columns are one aligned 32-bit store
  __device__ ag_elem* row(const AgRow& r) const { return base + r.dh * head_str + r.i * row_str; }
};

__device__ __forceinline__ AgOut ag_out(const AttnParams& p, const AgEntry& e) {
  AgOut o;
  o.base = static_cast<ag_elem*>(p.o) + e.b * p.o_str[0] + e.h * p.o_str[1];
  o.head_str = p.o_str[1];
  o.row_str = p.o_str[2];
  o.col_str = p.o_str[3];
  o.pairs = sizeof(ag_elem) == 2 && (reinterpret_cast<unsigned long long>(p.o) & 3) == 0 && p.o_str[3] == 1 &&
            AG_HEAD_DIM_V % 2 == 0 && p.o_str[0] % 2 == 0 && p.o_str[1] % 2 == 0 && p.o_str[2] % 2 == 0;
  return o;
}

__device__ __forceinline__ void ag_store_lse(const AttnParams& p, const AgEntry& e, const AgRow& r, float lse) {
  if (AG_RETURN_LSE) p.lse[e.b * p.lse_str[0] + (e.h + r.dh) * p.lse_str[1] + r.i * p.lse_str[2]] = lse;
}

// Split-KV: the partial results of split s, f32, rows in the output's order
// ([split][b][h][i]): O normalised by the split's own sum (Dv values a row),
// then, after every split's O, the split's LSE a row (-inf: no allowed key).
struct AgPartial {
  float* o;  // the row's Dv values
  float* lse;
};
__device__ __forceinline__ AgPartial ag_partial(const AttnParams& p, float* part, const AgEntry& e, const AgRow& r) {
  const ag_i64 rows = p.batch * AG_NUM_HEADS * p.sq;
  const ag_i64 x = (ag_split(p) * p.batch + e.b) * AG_NUM_HEADS * p.sq + (e.h + r.dh) * p.sq + r.i;
  return {part + x * AG_HEAD_DIM_V, part + ag_splits(p) * rows * AG_HEAD_DIM_V + x};
}

// Final normalisation of one row: (o / l, lse) or the empty row (0, -inf);
// l == 0 means no allowed key, NaN propagates (corrupt data is never "masked").
__device__ __forceinline__ float ag_row_scale(float l, bool valid_row) {
  return !valid_row || l == 0.f ? 0.f : 1.f / l;
}
__device__ __forceinline__ float ag_row_lse(float m, float l, bool valid_row) {
  return !valid_row || l == 0.f ? -AG_INF : (m * AG_EXP2_SCALE + log2f(l)) * AG_LN2;
}

