// attngen's fused attention forward kernel for CUDA (FlashAttention-2 style).
//
// codegen/cuda/render.cpp prepends templates/common/attention_params.h and a
// prelude of compile-time constants and device functions rendered from the
// spec (AG_* below: dtype, head dims, tile shape, which masks and score mods
// exist, and `allowed_keys`, the AND of the index masks as one key interval
// per query row). Nothing here branches at run time on the kind of mask.
//
// One block owns BLOCK_M query rows of one (batch entry, query head) and walks
// the key blocks that the index masks allow, with an online softmax whose
// exponents are base 2. Key blocks allowed for every row of the tile skip the
// per-element mask work. f16/bf16: tensor-core MMA (mma.sync m16n8k16, f32
// accumulation; a warp owns AG_WARP_M_TILES blocks of 16 rows, so each K and
// V fragment it loads feeds that many MMAs), cp.async copies into shared
// memory, ldmatrix fragment loads;
// f32: FMA on the CUDA cores (exact f32, no TF32).
//
// Semantics are spec v1 (docs/spec.md): rows past q_lens and rows with no
// allowed key output O = 0 and LSE = -inf; a row that reads NaN/Inf (or whose
// score overflows) outputs NaN; positions past the lengths are never read
// (shared memory is zero-filled there instead).

#define AG_INF __int_as_float(0x7f800000)
#define AG_LOG2E 1.4426950408889634f
#define AG_LN2 0.6931471805599453f

__device__ __forceinline__ ag_i64 ag_min(ag_i64 a, ag_i64 b) { return a < b ? a : b; }
__device__ __forceinline__ ag_i64 ag_max(ag_i64 a, ag_i64 b) { return a > b ? a : b; }

__device__ __forceinline__ float ag_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

// ---- element conversions (no cuda_fp16.h / cuda_bf16.h: NVRTC needs no headers)
__device__ __forceinline__ float ag_half_to_float(unsigned short u) {
  float f;
  asm("{ .reg .f16 h; mov.b16 h, %1; cvt.f32.f16 %0, h; }" : "=f"(f) : "h"(u));
  return f;
}
__device__ __forceinline__ unsigned short ag_float_to_half(float f) {
  unsigned short u;
  asm("{ .reg .f16 h; cvt.rn.f16.f32 h, %1; mov.b16 %0, h; }" : "=h"(u) : "f"(f));
  return u;
}
__device__ __forceinline__ float ag_bf16_to_float(unsigned short u) { return __int_as_float(int(unsigned(u) << 16)); }
__device__ __forceinline__ unsigned short ag_float_to_bf16(float f) {
  unsigned short u;
  asm("{ .reg .b16 h; cvt.rn.bf16.f32 h, %1; mov.b16 %0, h; }" : "=h"(u) : "f"(f));
  return u;
}

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
  ag_i64 lo, hi;  // keys allowed by the index masks (lo > hi: none)
  int doc;        // document: q_doc[b, i]
  float slope;    // alibi: slopes[b, h]
};

struct AgEntry {  // one (batch entry, query head)
  ag_i64 b, h, hk;
  AgRowCtx ctx;  // per-entry Sq, Skv, prefix (rendered type, see the prelude)
};

__device__ __forceinline__ AgRow ag_row(const AttnParams& p, const AgEntry& e, ag_i64 i) {
  AgRow r;
  r.i = i;
  allowed_keys(i, e.ctx, r.lo, r.hi);
  r.hi = ag_min(r.hi, e.ctx.skv - 1);
  r.lo = ag_max(r.lo, 0);
  r.doc = 0;
  r.slope = 0.f;
  if (AG_HAS_DOCUMENT && i < e.ctx.sq) r.doc = p.q_doc[e.b * p.q_doc_str[0] + i * p.q_doc_str[1]];
  if (AG_HAS_ALIBI) r.slope = p.alibi[e.b * p.alibi_str[0] + e.h * p.alibi_str[1]];
  return r;
}

__device__ __forceinline__ float ag_custom_mask_value(const AttnParams& p, const AgEntry& e, ag_i64 i, ag_i64 j) {
  const ag_i64 off = e.b * p.mask_str[0] + e.h * p.mask_str[1] + i * p.mask_str[2] + j * p.mask_str[3];
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
// "Order of operations"). `full`: the key block is allowed for every row of
// the tile by the index masks, so only data masks remain to check.
template <bool full>
__device__ __forceinline__ float ag_score(float qk, const AttnParams& p, const AgEntry& e, const AgRow& r, ag_i64 j) {
  if (full && AG_PLAIN_SCORE && !AG_HAS_DATA_MASK) return qk;
  float s = AG_PLAIN_SCORE ? qk : qk * AG_SCALE;
  s = ag_softcap(s);
  if (AG_HAS_ALIBI) {
    const ag_i64 d = r.i + e.ctx.skv - e.ctx.sq - j;
    s -= r.slope * float(d < 0 ? -d : d);
  }
  if (AG_HAS_CUSTOM_ADDITIVE) s += ag_custom_mask_value(p, e, r.i, j);
  bool ok = true;
  if (!full) ok = j >= r.lo && j <= r.hi;
  if (AG_HAS_DOCUMENT) ok = ok && p.kv_doc[e.b * p.kv_doc_str[0] + j * p.kv_doc_str[1]] == r.doc;
  if (AG_HAS_CUSTOM_BOOL) ok = ok && ag_custom_mask_value(p, e, r.i, j) != 0.f;
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
struct AgTile {
  AgEntry e;
  ag_i64 i0;              // first query row of the tile
  ag_i64 nb_begin, nb_end;  // key blocks to visit
  ag_i64 full_begin, full_end;  // key blocks allowed for every valid row (index masks)
};

__device__ __forceinline__ AgTile ag_tile(const AttnParams& p) {
  AgTile t;
  // Heavy (late, for causal masks) tiles first: they start before the light ones.
  const ag_i64 qt = ag_i64(gridDim.x) - 1 - blockIdx.x;
  t.e.b = blockIdx.z;
  t.e.h = blockIdx.y;
  t.e.hk = t.e.h / AG_GROUP;
  ag_i64 sq = p.sq, skv = p.skv;
  if (p.q_lens) sq = ag_max(0, ag_min(p.sq, p.q_lens[t.e.b * p.q_lens_str]));
  if (p.kv_lens) skv = ag_max(0, ag_min(p.skv, p.kv_lens[t.e.b * p.kv_lens_str]));
  t.e.ctx.sq = sq;
  t.e.ctx.skv = skv;
  t.e.ctx.prefix = ag_static_prefix();
  if (p.prefix_lens) t.e.ctx.prefix = p.prefix_lens[t.e.b * p.prefix_lens_str];
  t.i0 = qt * AG_BLOCK_M;
  t.nb_begin = t.nb_end = t.full_begin = t.full_end = 0;
  const ag_i64 last = ag_min(t.i0 + AG_BLOCK_M, sq) - 1;  // last valid row
  if (last < t.i0 || skv == 0) return t;
  // Each index mask allows one interval per row whose ends never decrease
  // with i, so the tile's keys lie in [lo(i0), hi(last)] and keys in
  // [lo(last), hi(i0)] are allowed for every row.
  ag_i64 lo0, hi0, lo1, hi1;
  allowed_keys(t.i0, t.e.ctx, lo0, hi0);
  allowed_keys(last, t.e.ctx, lo1, hi1);
  lo0 = ag_max(lo0, 0);
  hi1 = ag_min(hi1, skv - 1);
  if (lo0 > hi1) return t;
  t.nb_begin = lo0 / AG_BLOCK_N;
  t.nb_end = hi1 / AG_BLOCK_N + 1;
  // Whole blocks inside [lo(last), min(hi(i0), skv - 1)].
  hi0 = ag_min(hi0, skv - 1);
  if (AG_HAS_DATA_MASK || lo1 > hi0) {
    t.full_begin = t.full_end = t.nb_end;
  } else {
    t.full_begin = (ag_max(lo1, 0) + AG_BLOCK_N - 1) / AG_BLOCK_N;
    t.full_end = (hi0 + 1) / AG_BLOCK_N;
    if (t.full_end <= t.full_begin) t.full_begin = t.full_end = t.nb_end;
  }
  return t;
}

// ---- loading a tile of rows into shared memory, zero past the valid rows and columns
//
// Rows are `pitch` elements apart in shared memory; pitch = cols + 8 (16 bytes
// more than a whole number of 32-byte units) puts the 8 rows of an ldmatrix
// into 8 different bank groups. The fast path copies 16-byte chunks with
// cp.async (zero-filled where invalid); it needs unit column stride, 16-byte
// aligned rows and a head dim that is a multiple of the chunk.

__device__ __forceinline__ unsigned ag_smem_u32(const void* ptr) {
  unsigned r;
  asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(r) : "l"(ptr));
  return r;
}
__device__ __forceinline__ void ag_cp_async16(void* smem, const void* gmem, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(ag_smem_u32(smem)), "l"(gmem),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void ag_cp_async_commit() { asm volatile("cp.async.commit_group;"); }
__device__ __forceinline__ void ag_cp_async_wait_all() { asm volatile("cp.async.wait_group 0;" ::: "memory"); }

// A rank-4 view's rows for one (b, head): base, row stride, column stride.
struct AgRows {
  const ag_elem* base;
  ag_i64 row_str, col_str;
  bool chunked;  // the cp.async path applies
};

__device__ __forceinline__ AgRows ag_rows(const void* data, const ag_i64* str, ag_i64 b, ag_i64 h, int cols) {
  AgRows r;
  r.base = static_cast<const ag_elem*>(data) + b * str[0] + h * str[1];
  r.row_str = str[2];
  r.col_str = str[3];
  constexpr int chunk = 16 / int(sizeof(ag_elem));
  const bool aligned = (reinterpret_cast<unsigned long long>(data) & 15) == 0;
  r.chunked = aligned && str[3] == 1 && cols % chunk == 0 && str[0] % chunk == 0 && str[1] % chunk == 0 &&
              str[2] % chunk == 0;
  return r;
}

// rows [row0, row0 + ROWS) of `src` (valid below `row_end`), COLS of PITCH.
template <int ROWS, int COLS, int COLS_PAD, int PITCH>
__device__ __forceinline__ void ag_load_tile(ag_elem* smem, const AgRows& src, ag_i64 row0, ag_i64 row_end) {
  constexpr int chunk = 16 / int(sizeof(ag_elem));
  constexpr int chunks_per_row = COLS_PAD / chunk;
  if (src.chunked) {
    for (int c = threadIdx.x; c < ROWS * chunks_per_row; c += AG_THREADS) {
      const int r = c / chunks_per_row, col = (c % chunks_per_row) * chunk;
      const ag_i64 row = row0 + r;
      const bool valid = row < row_end && col < COLS;
      // An invalid chunk reads nothing (source size 0) but needs a valid address.
      const ag_elem* g = valid ? src.base + row * src.row_str + col : src.base;
      ag_cp_async16(smem + r * PITCH + col, g, valid);
    }
  } else {
    for (int x = threadIdx.x; x < ROWS * COLS_PAD; x += AG_THREADS) {
      const int r = x / COLS_PAD, col = x % COLS_PAD;
      const ag_i64 row = row0 + r;
      smem[r * PITCH + col] = row < row_end && col < COLS ? src.base[row * src.row_str + col * src.col_str]
                                                          : ag_from_float(0.f);
    }
  }
}

// ---- storing one output row element pair / the LSE
struct AgOut {
  ag_elem* base;
  ag_i64 row_str, col_str;
  bool pairs;  // two neighbouring columns are one aligned 32-bit store
};

__device__ __forceinline__ AgOut ag_out(const AttnParams& p, const AgEntry& e) {
  AgOut o;
  o.base = static_cast<ag_elem*>(p.o) + e.b * p.o_str[0] + e.h * p.o_str[1];
  o.row_str = p.o_str[2];
  o.col_str = p.o_str[3];
  o.pairs = sizeof(ag_elem) == 2 && (reinterpret_cast<unsigned long long>(p.o) & 3) == 0 && p.o_str[3] == 1 &&
            AG_HEAD_DIM_V % 2 == 0 && p.o_str[0] % 2 == 0 && p.o_str[1] % 2 == 0 && p.o_str[2] % 2 == 0;
  return o;
}

__device__ __forceinline__ void ag_store_lse(const AttnParams& p, const AgEntry& e, ag_i64 i, float lse) {
  if (AG_RETURN_LSE) p.lse[e.b * p.lse_str[0] + e.h * p.lse_str[1] + i * p.lse_str[2]] = lse;
}

// Final normalisation of one row: (o / l, lse) or the empty row (0, -inf);
// l == 0 means no allowed key, NaN propagates (corrupt data is never "masked").
__device__ __forceinline__ float ag_row_scale(float l, bool valid_row) {
  return !valid_row || l == 0.f ? 0.f : 1.f / l;
}
__device__ __forceinline__ float ag_row_lse(float m, float l, bool valid_row) {
  return !valid_row || l == 0.f ? -AG_INF : (m * AG_EXP2_SCALE + log2f(l)) * AG_LN2;
}

#if AG_DTYPE != AG_DTYPE_F32
// ===================== f16 / bf16: tensor cores =====================

__device__ __forceinline__ void ag_ldmatrix_x4(unsigned (&r)[4], const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(ag_smem_u32(smem)));
}
__device__ __forceinline__ void ag_ldmatrix_x4_trans(unsigned (&r)[4], const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(ag_smem_u32(smem)));
}

// d += a * b, m16n8k16, f32 accumulation.
__device__ __forceinline__ void ag_mma(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
#if AG_DTYPE == AG_DTYPE_BF16
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
               "{%0, %1, %2, %3};"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
               "{%0, %1, %2, %3};"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

// Two floats as one register of two 16-bit values (lo in the low half).
__device__ __forceinline__ unsigned ag_pack2(float lo, float hi) {
  unsigned r;
#if AG_DTYPE == AG_DTYPE_BF16
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
#else
  asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
#endif
  return r;
}

constexpr int AG_Q_PITCH = AG_D_PAD + 8;
constexpr int AG_V_PITCH = AG_DV_PAD + 8;
constexpr int AG_NT_S = AG_BLOCK_N / 8;   // n-tiles of a score row block
constexpr int AG_NT_O = AG_DV_PAD / 8;    // n-tiles of the output
constexpr int AG_KT_Q = AG_D_PAD / 16;    // k-steps of Q.K^T
constexpr int AG_MT = AG_WARP_M_TILES;    // 16-row blocks per warp: each K/V fragment feeds AG_MT MMAs

// Per-element scoring of one warp's fragment of a key block for one 16-row
// block: rows g and g + 8 of it, columns 2t, 2t + 1 of each n-tile.
template <bool full>
__device__ __forceinline__ void ag_score_fragment(float (&s)[AG_NT_S][4], const AttnParams& p, const AgEntry& e,
                                                  const AgRow* row, ag_i64 j0, int t) {
#pragma unroll
  for (int nt = 0; nt < AG_NT_S; ++nt)
#pragma unroll
    for (int x = 0; x < 4; ++x) {
      const ag_i64 j = j0 + nt * 8 + 2 * t + (x & 1);
      if (!full && j >= e.ctx.skv) {
        s[nt][x] = -AG_INF;
        continue;
      }
      s[nt][x] = ag_score<full>(s[nt][x], p, e, row[x >> 1], j);
    }
}

// The A fragment (16 rows x 16 d) of Q for row block `mt` of the warp at k-step kt.
__device__ __forceinline__ void ag_load_q_fragment(unsigned (&a)[4], const ag_elem* q_s, int wrow, int mt, int kt,
                                                   int lane) {
  ag_ldmatrix_x4(a, q_s + (wrow + mt * 16 + (lane >> 3 & 1) * 8 + (lane & 7)) * AG_Q_PITCH + kt * 16 + (lane >> 4) * 8);
}

extern "C" __global__ void __launch_bounds__(AG_THREADS) AG_ENTRY(const AttnParams p) {
  extern __shared__ __align__(128) unsigned char ag_smem[];
  ag_elem* q_s = reinterpret_cast<ag_elem*>(ag_smem);
  ag_elem* k_s = q_s + AG_BLOCK_M * AG_Q_PITCH;
  ag_elem* v_s = k_s + AG_BLOCK_N * AG_Q_PITCH;

  const AgTile tile = ag_tile(p);
  const AgEntry& e = tile.e;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;
  const int wrow = warp * 16 * AG_MT;  // the warp's first row in the tile

  // row[2 mt + rr]: row g + 8 rr of the warp's row block mt.
  AgRow row[2 * AG_MT];
#pragma unroll
  for (int r = 0; r < 2 * AG_MT; ++r) row[r] = ag_row(p, e, tile.i0 + wrow + (r >> 1) * 16 + (r & 1) * 8 + g);

  float o[AG_MT][AG_NT_O][4];
#pragma unroll
  for (int mt = 0; mt < AG_MT; ++mt)
#pragma unroll
    for (int n = 0; n < AG_NT_O; ++n) o[mt][n][0] = o[mt][n][1] = o[mt][n][2] = o[mt][n][3] = 0.f;
  float m[2 * AG_MT], l[2 * AG_MT];  // running maximum (score units) and sum of each row
#pragma unroll
  for (int r = 0; r < 2 * AG_MT; ++r) m[r] = -AG_INF, l[r] = 0.f;

  if (tile.nb_begin < tile.nb_end) {
    const AgRows qr = ag_rows(p.q, p.q_str, e.b, e.h, AG_HEAD_DIM);
    const AgRows kr = ag_rows(p.k, p.k_str, e.b, e.hk, AG_HEAD_DIM);
    const AgRows vr = ag_rows(p.v, p.v_str, e.b, e.hk, AG_HEAD_DIM_V);
    ag_load_tile<AG_BLOCK_M, AG_HEAD_DIM, AG_D_PAD, AG_Q_PITCH>(q_s, qr, tile.i0, e.ctx.sq);
    ag_load_tile<AG_BLOCK_N, AG_HEAD_DIM, AG_D_PAD, AG_Q_PITCH>(k_s, kr, tile.nb_begin * AG_BLOCK_N, e.ctx.skv);
    ag_cp_async_commit();

#if AG_Q_IN_REGISTERS
    unsigned qf[AG_MT][AG_KT_Q][4];
#endif
    for (ag_i64 nb = tile.nb_begin; nb < tile.nb_end; ++nb) {
      const ag_i64 j0 = nb * AG_BLOCK_N;
      ag_cp_async_wait_all();  // K (and Q) of this block
      __syncthreads();         // ... seen by all, and every warp done with V of the last block
      ag_load_tile<AG_BLOCK_N, AG_HEAD_DIM_V, AG_DV_PAD, AG_V_PITCH>(v_s, vr, j0, e.ctx.skv);
      ag_cp_async_commit();

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
          ag_ldmatrix_x4(b, k_s + (n2 * 16 + (lane >> 4) * 8 + (lane & 7)) * AG_Q_PITCH + kt * 16 + (lane >> 3 & 1) * 8);
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

      // Online softmax: row r = 2 mt + rr is row g + 8 rr of row block mt
      // (elements x = 2 rr, 2 rr + 1); a row's 4 threads are one quad of lanes.
      float alpha[2 * AG_MT];
      bool moved = false;
#pragma unroll
      for (int mt = 0; mt < AG_MT; ++mt)
#pragma unroll
        for (int rr = 0; rr < 2; ++rr) {
          const int r = 2 * mt + rr;
          float mx = m[r];
#pragma unroll
          for (int n = 0; n < AG_NT_S; ++n) mx = fmaxf(mx, fmaxf(s[mt][n][2 * rr], s[mt][n][2 * rr + 1]));
          mx = ag_quad_max(mx);
          float base;
          alpha[r] = ag_softmax_step(m[r], mx, base);
          moved = moved || alpha[r] != 1.f;
          float sum = 0.f;
#pragma unroll
          for (int n = 0; n < AG_NT_S; ++n) {
            s[mt][n][2 * rr] = ag_prob(s[mt][n][2 * rr], base);
            s[mt][n][2 * rr + 1] = ag_prob(s[mt][n][2 * rr + 1], base);
            sum += s[mt][n][2 * rr] + s[mt][n][2 * rr + 1];
          }
          l[r] = l[r] * alpha[r] + ag_block_sum(sum, base);
        }
      if (__any_sync(0xffffffffu, moved)) {  // once the maxima settle, most blocks skip this
#pragma unroll
        for (int mt = 0; mt < AG_MT; ++mt)
#pragma unroll
          for (int n = 0; n < AG_NT_O; ++n)
#pragma unroll
            for (int x = 0; x < 4; ++x) o[mt][n][x] *= alpha[2 * mt + (x >> 1)];
      }

      ag_cp_async_wait_all();  // V of this block
      __syncthreads();         // ... seen by all, and every warp done with K
      if (nb + 1 < tile.nb_end) {
        ag_load_tile<AG_BLOCK_N, AG_HEAD_DIM, AG_D_PAD, AG_Q_PITCH>(k_s, kr, j0 + AG_BLOCK_N, e.ctx.skv);
        ag_cp_async_commit();
      }

      // O += P V: P's accumulator fragments are the A fragments of the next MMA.
#pragma unroll
      for (int kk = 0; kk < AG_BLOCK_N / 16; ++kk) {
        unsigned a[AG_MT][4];
#pragma unroll
        for (int mt = 0; mt < AG_MT; ++mt) {
          a[mt][0] = ag_pack2(s[mt][2 * kk][0], s[mt][2 * kk][1]);
          a[mt][1] = ag_pack2(s[mt][2 * kk][2], s[mt][2 * kk][3]);
          a[mt][2] = ag_pack2(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
          a[mt][3] = ag_pack2(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
        }
#pragma unroll
        for (int n2 = 0; n2 < AG_NT_O / 2; ++n2) {
          unsigned b[4];  // keys kk*16 .. +15, dv n2*16 .. +15
          ag_ldmatrix_x4_trans(b, v_s + (kk * 16 + (lane >> 3 & 1) * 8 + (lane & 7)) * AG_V_PITCH + n2 * 16 + (lane >> 4) * 8);
#pragma unroll
          for (int mt = 0; mt < AG_MT; ++mt) {
            ag_mma(o[mt][2 * n2], a[mt], b[0], b[1]);
            ag_mma(o[mt][2 * n2 + 1], a[mt], b[2], b[3]);
          }
        }
      }
    }
  }

  // Sum each row over its quad, normalise, store (rows past Sq's extent are not ours).
  const AgOut out = ag_out(p, e);
#pragma unroll
  for (int mt = 0; mt < AG_MT; ++mt)
#pragma unroll
    for (int rr = 0; rr < 2; ++rr) {
      const int r = 2 * mt + rr;
      const float lsum = ag_quad_sum(l[r]);
      const ag_i64 i = row[r].i;
      if (i >= p.sq) continue;
      const bool valid = i < e.ctx.sq;
      const float inv = ag_row_scale(lsum, valid);
      ag_elem* dst = out.base + i * out.row_str;
#pragma unroll
      for (int n = 0; n < AG_NT_O; ++n) {
        const int c = n * 8 + 2 * t;
        const float v0 = valid ? o[mt][n][2 * rr] * inv : 0.f, v1 = valid ? o[mt][n][2 * rr + 1] * inv : 0.f;
        if (out.pairs && c + 1 < AG_HEAD_DIM_V) {
          *reinterpret_cast<unsigned*>(dst + c) = ag_pack2(v0, v1);
        } else {
          if (c < AG_HEAD_DIM_V) dst[c * out.col_str] = ag_from_float(v0);
          if (c + 1 < AG_HEAD_DIM_V) dst[(c + 1) * out.col_str] = ag_from_float(v1);
        }
      }
      if (t == 0) ag_store_lse(p, e, i, ag_row_lse(m[r], lsum, valid));
    }
}

#else
// ===================== f32: CUDA cores =====================
//
// A tile of BLOCK_M rows by BLOCK_N keys; thread (r, c) = (tid / 4, tid % 4)
// scores keys c, c + 4, ... of row r and accumulates output columns c, c + 4, ...
// of row r. Rows are padded by one element against bank conflicts.

constexpr int AG_QK_PITCH = AG_D_PAD + 1;
constexpr int AG_V_PITCH = AG_DV_PAD + 1;
constexpr int AG_P_PITCH = AG_BLOCK_N + 1;
constexpr int AG_KEYS_PER_THREAD = AG_BLOCK_N / 4;
constexpr int AG_COLS_PER_THREAD = AG_DV_PAD / 4;

extern "C" __global__ void __launch_bounds__(AG_THREADS) AG_ENTRY(const AttnParams p) {
  extern __shared__ __align__(128) unsigned char ag_smem[];
  float* q_s = reinterpret_cast<float*>(ag_smem);
  float* k_s = q_s + AG_BLOCK_M * AG_QK_PITCH;
  float* v_s = k_s + AG_BLOCK_N * AG_QK_PITCH;
  float* p_s = v_s + AG_BLOCK_N * AG_V_PITCH;

  const AgTile tile = ag_tile(p);
  const AgEntry& e = tile.e;
  const int r = threadIdx.x / 4, c = threadIdx.x % 4;
  const AgRow row = ag_row(p, e, tile.i0 + r);

  float o[AG_COLS_PER_THREAD];
#pragma unroll
  for (int x = 0; x < AG_COLS_PER_THREAD; ++x) o[x] = 0.f;
  float m = -AG_INF, l = 0.f;  // running maximum (score units) and sum of the row

  if (tile.nb_begin < tile.nb_end) {
    AgRows qr = ag_rows(p.q, p.q_str, e.b, e.h, AG_HEAD_DIM);
    AgRows kr = ag_rows(p.k, p.k_str, e.b, e.hk, AG_HEAD_DIM);
    AgRows vr = ag_rows(p.v, p.v_str, e.b, e.hk, AG_HEAD_DIM_V);
    qr.chunked = kr.chunked = vr.chunked = false;  // plain loads: the CUDA cores are the limit here
    ag_load_tile<AG_BLOCK_M, AG_HEAD_DIM, AG_D_PAD, AG_QK_PITCH>(q_s, qr, tile.i0, e.ctx.sq);
    for (ag_i64 nb = tile.nb_begin; nb < tile.nb_end; ++nb) {
      const ag_i64 j0 = nb * AG_BLOCK_N;
      __syncthreads();  // every thread done with the last block's K, V and P
      ag_load_tile<AG_BLOCK_N, AG_HEAD_DIM, AG_D_PAD, AG_QK_PITCH>(k_s, kr, j0, e.ctx.skv);
      ag_load_tile<AG_BLOCK_N, AG_HEAD_DIM_V, AG_DV_PAD, AG_V_PITCH>(v_s, vr, j0, e.ctx.skv);
      __syncthreads();

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
  const AgOut out = ag_out(p, e);
  float* dst = out.base + i * out.row_str;
#pragma unroll
  for (int x = 0; x < AG_COLS_PER_THREAD; ++x) {
    const int col = c + 4 * x;
    if (col < AG_HEAD_DIM_V) dst[col * out.col_str] = valid ? o[x] * inv : 0.f;
  }
  if (c == 0) ag_store_lse(p, e, i, ag_row_lse(m, l, valid));
}
#endif
