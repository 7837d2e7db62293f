// SIMD helpers of the CPU kernels (templates/llvm/attention_cpu.cpp) and of
// the score mods rendered from a spec: clang vector types AG_LANES floats
// wide (16 on AVX-512, 8 on AVX2, 4 on NEON and SSE; the renderer defines
// AG_LANES, AG_INLINE and agv), exp, selects and element conversions. Plain
// C++17 for clang, no includes, no libm.

typedef int agvi __attribute__((ext_vector_type(AG_LANES)));
typedef unsigned agvu __attribute__((ext_vector_type(AG_LANES)));
typedef unsigned long ag_size;
typedef unsigned short ag_u16;
typedef unsigned ag_u32;

#define AG_RV (AG_BLOCK_M / AG_LANES)  // row vectors per tile

AG_INLINE float ag_as_float(ag_u32 u) { return __builtin_bit_cast(float, u); }
AG_INLINE ag_u32 ag_as_uint(float f) { return __builtin_bit_cast(ag_u32, f); }
AG_INLINE agv ag_load(const float* p) {
  agv v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
AG_INLINE void ag_store(float* p, agv v) { __builtin_memcpy(p, &v, sizeof v); }
AG_INLINE agvi ag_loadi(const int* p) {
  agvi v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
AG_INLINE agv ag_splat(float x) { return (agv)(x); }
AG_INLINE agv ag_select(agvi m, agv a, agv b) {
  return __builtin_bit_cast(agv, (__builtin_bit_cast(agvi, a) & m) | (__builtin_bit_cast(agvi, b) & ~m));
}
AG_INLINE ag_i64 ag_min(ag_i64 a, ag_i64 b) { return a < b ? a : b; }
AG_INLINE ag_i64 ag_max(ag_i64 a, ag_i64 b) { return a > b ? a : b; }

static const float ag_inf = __builtin_huge_valf();

// Horizontal sums of AG_LANES vectors at once: ag_fold(a, b) adds the
// adjacent lanes of a (into the low half) and of b (the high half), so
// AG_LANES - 1 folds turn v[0..AG_LANES) into one vector whose lane k is the
// sum of v[k] (each fold keeps the groups in order, halving their width).
#if AG_LANES == 16
#define AG_EVEN 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30
#define AG_ODD 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31
#elif AG_LANES == 8
#define AG_EVEN 0, 2, 4, 6, 8, 10, 12, 14
#define AG_ODD 1, 3, 5, 7, 9, 11, 13, 15
#else
#define AG_EVEN 0, 2, 4, 6
#define AG_ODD 1, 3, 5, 7
#endif
AG_INLINE agv ag_fold(agv a, agv b) {
  return __builtin_shufflevector(a, b, AG_EVEN) + __builtin_shufflevector(a, b, AG_ODD);
}
AG_INLINE agv ag_sums(agv* v) {
#pragma clang loop unroll(full)
  for (int w = AG_LANES; w > 1; w /= 2)
#pragma clang loop unroll(full)
    for (int i = 0; i < w / 2; ++i) v[i] = ag_fold(v[2 * i], v[2 * i + 1]);
  return v[0];
}
AG_INLINE float ag_hsum(agv v) {
  float s = 0.0f;
  for (int x = 0; x < AG_LANES; ++x) s += v[x];
  return s;
}
AG_INLINE float ag_hmax(agv v) {
  float s = v[0];
  for (int x = 1; x < AG_LANES; ++x) s = __builtin_elementwise_max(s, v[x]);
  return s;
}

// e^x for x <= 0 (x = -inf gives 0): 2^n * 2^f with a degree-6 polynomial on
// f in [-0.5, 0.5] (relative error ~2e-7). NaN rows are tracked apart.
AG_INLINE agv ag_exp(agv x) {
  const agv t = x * 1.44269504088896341f;
  const agv tc = __builtin_elementwise_max(t, ag_splat(-127.0f));
  const agv n = __builtin_elementwise_floor(tc + 0.5f);
  const agv f = tc - n;
  agv p = ag_splat(1.5353362e-4f);
  p = p * f + 1.3398874e-3f;
  p = p * f + 9.6184197e-3f;
  p = p * f + 5.5503324e-2f;
  p = p * f + 2.4022648e-1f;
  p = p * f + 6.9314718e-1f;
  p = p * f + 1.0f;
  const agvi e = (__builtin_convertvector(n, agvi) + 127) << 23;
  const agv r = p * __builtin_bit_cast(agv, e);
  return ag_select(t < -126.0f, ag_splat(0.0f), r);
}

// ---- element conversions (bit exact, round to nearest even; no libm, no F16C needed)
AG_INLINE float ag_f16_to_float(ag_u16 h) {
  const ag_u32 shifted_exp = 0x7c00u << 13;
  ag_u32 o = (ag_u32(h) & 0x7fffu) << 13;
  const ag_u32 exp = shifted_exp & o;
  o += (127u - 15u) << 23;
  if (exp == shifted_exp) {
    o += (128u - 16u) << 23;  // Inf, NaN
  } else if (exp == 0) {      // zero, subnormal
    o += 1u << 23;
    o = ag_as_uint(ag_as_float(o) - ag_as_float(113u << 23));
  }
  return ag_as_float(o | ((ag_u32(h) & 0x8000u) << 16));
}
AG_INLINE ag_u16 ag_float_to_f16(float x) {
  ag_u32 f = ag_as_uint(x);
  const ag_u32 sign = (f >> 16) & 0x8000u;
  f &= 0x7fffffffu;
  if (f >= 0x47800000u) return ag_u16(sign | (f > 0x7f800000u ? 0x7e00u : 0x7c00u));
  if (f < 0x38800000u) return ag_u16(sign | (ag_as_uint(ag_as_float(f) + 0.5f) - 0x3f000000u));
  const ag_u32 odd = (f >> 13) & 1u;
  f += 0xc8000fffu + odd;  // rebias the exponent by 15 - 127, round to nearest even
  return ag_u16(sign | (f >> 13));
}
AG_INLINE float ag_bf16_to_float(ag_u16 h) { return ag_as_float(ag_u32(h) << 16); }
AG_INLINE ag_u16 ag_float_to_bf16(float x) {
  const ag_u32 f = ag_as_uint(x);
  if ((f & 0x7fffffffu) > 0x7f800000u) return ag_u16((f >> 16) | 0x40u);  // NaN stays NaN
  return ag_u16((f + 0x7fffu + ((f >> 16) & 1u)) >> 16);
}

