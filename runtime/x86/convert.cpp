#include "runtime/x86/convert.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <immintrin.h>

#include "codegen/x86/cpu.hpp"
#include "runtime/core/half.hpp"

#define ATTNGEN_AVX2 __attribute__((target("avx2,fma,f16c")))
#define ATTNGEN_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq")))

namespace attngen::x86 {
namespace {

ATTNGEN_AVX2 inline uint16_t f32_to_bf16_rne(float x) {
  uint32_t b;
  std::memcpy(&b, &x, 4);
  if ((b & 0x7fffffffu) > 0x7f800000u) return uint16_t((b >> 16) | 0x40);  // quiet NaN
  b += 0x7fffu + ((b >> 16) & 1u);
  return uint16_t(b >> 16);
}

// Eight f32 lanes from `n` elements at p (the rest zero).
ATTNGEN_AVX2 inline __m256 load8(ElemType type, const char* p, int n) {
  if (n == 8) {
    switch (type) {
      case ElemType::f32: return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
      case ElemType::f16: return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
      default:
        return _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), 16));
    }
  }
  alignas(32) float tmp[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  const size_t es = elem_size(type);
  for (int i = 0; i < n; ++i) {
    const char* q = p + i * es;
    uint16_t h = 0;
    if (es == 2) std::memcpy(&h, q, 2);
    tmp[i] = type == ElemType::f32 ? *reinterpret_cast<const float*>(q)
             : type == ElemType::f16 ? _cvtsh_ss(h) : bf16_to_float(h);
  }
  return _mm256_load_ps(tmp);
}

// In-register transpose of an 8x8 f32 block.
ATTNGEN_AVX2 inline void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i)
    for (int h = 0; h < 2; ++h) {
      u[4 * i + 2 * h] = _mm256_shuffle_ps(t[4 * i + h], t[4 * i + 2 + h], 0x44);
      u[4 * i + 2 * h + 1] = _mm256_shuffle_ps(t[4 * i + h], t[4 * i + 2 + h], 0xEE);
    }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x20);
    r[4 + i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x31);
  }
}

// 32 bytes from p, of which only the first `nbytes` are read (the rest zero).
ATTNGEN_AVX2 inline __m256i load_bytes32(const char* p, int nbytes) {
  if (nbytes >= 32) return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  alignas(32) char tmp[32] = {};
  if (nbytes > 0) std::memcpy(tmp, p, size_t(nbytes));
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(tmp));
}

// Lane-wise equality of elements of `es` bytes.
ATTNGEN_AVX2 inline __m256i cmpeq(size_t es, __m256i a, __m256i b) {
  return es == 4 ? _mm256_cmpeq_epi32(a, b) : es == 2 ? _mm256_cmpeq_epi16(a, b) : _mm256_cmpeq_epi8(a, b);
}

uint32_t pair_at(const uint16_t* p, int64_t stride, int64_t n, int64_t i) {
  const uint32_t lo = 2 * i < n ? p[2 * i * stride] : 0, hi = 2 * i + 1 < n ? p[(2 * i + 1) * stride] : 0;
  return lo | hi << 16;
}

}  // namespace

void load_row_pairs(const void* src, int64_t stride, int64_t n, uint32_t* dst) {
  const uint16_t* p = static_cast<const uint16_t*>(src);
  if (stride == 1) {
    std::memcpy(dst, p, size_t(n) * 2);
    if (n % 2) reinterpret_cast<uint16_t*>(dst)[n] = 0;
    return;
  }
  for (int64_t i = 0; i < (n + 1) / 2; ++i) dst[i] = pair_at(p, stride, n, i);
}

ATTNGEN_AVX2 void pack_k_pairs(const void* k, int64_t row_stride, int64_t stride, int nkeys, int head_dim, int group,
                               uint32_t* kp) {
  const int pairs = (head_dim + 1) / 2;
  const uint16_t* base = static_cast<const uint16_t*>(k);
  if (stride != 1) {
    for (int p = 0; p < pairs; ++p)
      for (int j = 0; j < 64; ++j)
        kp[packed_index(pairs, group, p, j)] = j < nkeys ? pair_at(base + j * row_stride, stride, head_dim, p) : 0;
    return;
  }
  // 8 keys x 8 pairs at a time: an 8x8 transpose of 32-bit words.
  for (int j0 = 0; j0 < 64; j0 += 8)
    for (int p0 = 0; p0 < pairs; p0 += 8) {
      const int np = std::min(8, pairs - p0);
      const int nbytes = std::min(32, (head_dim - 2 * p0) * 2);
      __m256 r[8];
      for (int i = 0; i < 8; ++i)
        r[i] = j0 + i < nkeys ? _mm256_castsi256_ps(load_bytes32(
                                    reinterpret_cast<const char*>(base + (j0 + i) * row_stride + 2 * p0), nbytes))
                              : _mm256_setzero_ps();
      transpose8(r);
      for (int i = 0; i < np; ++i)
        _mm256_storeu_ps(reinterpret_cast<float*>(kp + packed_index(pairs, group, p0 + i, j0)), r[i]);
    }
}

ATTNGEN_AVX2 void pack_v_pairs(const void* v, int64_t row_stride, int64_t stride, int nkeys, int dv, int dv_padded,
                               int group, uint32_t* vp) {
  const uint16_t* base = static_cast<const uint16_t*>(v);
  auto out = [&](int q, int c) { return vp + packed_index(32, group, q, c); };
  for (int q = 0; q < 32; ++q) {
    const uint16_t* a = 2 * q < nkeys ? base + 2 * q * row_stride : nullptr;
    const uint16_t* b = 2 * q + 1 < nkeys ? base + (2 * q + 1) * row_stride : nullptr;
    if (stride != 1) {
      for (int c = 0; c < dv_padded; ++c)
        *out(q, c) = c < dv ? uint32_t(a ? a[c * stride] : 0) | uint32_t(b ? b[c * stride] : 0) << 16 : 0;
      continue;
    }
    // 16 columns at a time (within one group): interleave the two rows' bf16 values.
    for (int c = 0; c < dv_padded; c += 16) {
      const int nbytes = std::max(0, std::min(16, dv - c)) * 2;
      const __m256i ra = a ? load_bytes32(reinterpret_cast<const char*>(a + c), nbytes) : _mm256_setzero_si256();
      const __m256i rb = b ? load_bytes32(reinterpret_cast<const char*>(b + c), nbytes) : _mm256_setzero_si256();
      const __m256i lo = _mm256_unpacklo_epi16(ra, rb), hi = _mm256_unpackhi_epi16(ra, rb);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out(q, c)), _mm256_permute2x128_si256(lo, hi, 0x20));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out(q, c + 8)), _mm256_permute2x128_si256(lo, hi, 0x31));
    }
  }
}

ATTNGEN_AVX2 void pack_kt_block(ElemType type, const void* k, int64_t row_stride, int nkeys, int head_dim, int group,
                                float* kt) {
  const size_t es = elem_size(type);
  const char* base = static_cast<const char*>(k);
  for (int j0 = 0; j0 < 64; j0 += 8) {
    for (int d0 = 0; d0 < head_dim; d0 += 8) {
      const int nd = std::min(8, head_dim - d0);
      __m256 r[8];
      for (int i = 0; i < 8; ++i)
        r[i] = j0 + i < nkeys ? load8(type, base + ((j0 + i) * row_stride + d0) * int64_t(es), nd) : _mm256_setzero_ps();
      transpose8(r);
      for (int i = 0; i < nd; ++i) _mm256_storeu_ps(kt + packed_index(head_dim, group, d0 + i, j0), r[i]);
    }
  }
}

ATTNGEN_AVX2 void scan_mask(ElemType type, const void* p, int64_t stride, int64_t n, MaskSummary* acc) {
  const char* c = static_cast<const char*>(p);
  const size_t es = elem_size(type);
  const bool values = is_float_storage(type);  // additive: scanned whole for NaN / +inf
  // Bits of -inf and of the exponent field, per element type.
  const uint32_t ninf = type == ElemType::f32 ? 0xff800000u : type == ElemType::f16 ? 0xfc00u : 0xff80u;
  const uint32_t expo = type == ElemType::f32 ? 0x7f800000u : type == ElemType::f16 ? 0x7c00u : 0x7f80u;
  auto bits = [&](int64_t k) {
    const char* e = c + k * stride * int64_t(es);
    uint32_t b = 0;
    std::memcpy(&b, e, es);
    return b;
  };
  auto done = [&] { return !values && acc->any && !acc->all; };
  auto visit = [&](int64_t k) {
    const uint32_t b = bits(k);
    const bool kept = values ? b != ninf : b != 0;
    acc->any = acc->any || kept;
    acc->all = acc->all && kept;
    if (values && acc->invalid < 0 && (b & expo) == expo && b != ninf) acc->invalid = k;  // NaN or +inf
  };
  int64_t k = 0;
  if (stride == 1) {
    // 32 bytes at a time: a bit per byte that marks a masked (or invalid) element.
    __m256i pattern, exponent;
    switch (type) {
      case ElemType::f32: pattern = _mm256_set1_epi32(int32_t(ninf)), exponent = _mm256_set1_epi32(int32_t(expo)); break;
      case ElemType::f16:
      case ElemType::bf16:
        pattern = _mm256_set1_epi16(int16_t(ninf)), exponent = _mm256_set1_epi16(int16_t(expo));
        break;
      default: pattern = exponent = _mm256_setzero_si256(); break;
    }
    const int64_t per = 32 / int64_t(es);
    for (; k + per <= n && !done(); k += per) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + k * int64_t(es)));
      const uint32_t masked = uint32_t(_mm256_movemask_epi8(cmpeq(es, v, pattern)));
      acc->any = acc->any || masked != 0xffffffffu;
      acc->all = acc->all && masked == 0;
      if (values && acc->invalid < 0) {
        const uint32_t special = uint32_t(_mm256_movemask_epi8(cmpeq(es, _mm256_and_si256(v, exponent), exponent)));
        if (special & ~masked) {
          for (int64_t e = k; e < k + per; ++e) visit(e);  // finds the first invalid one
        }
      }
    }
  }
  for (; k < n && !done(); ++k) visit(k);
}

// GCC 12's AVX-512 intrinsics seed some results with _mm512_undefined_*,
// which -Wmaybe-uninitialized reports as a false positive.
#if defined(__GNUC__) && !defined(__clang__)  // (clang has no such group and would warn about it)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
namespace {

// Contiguous rows on AVX-512: 16 elements at a time, the tail under a mask
// (nothing read or written past the row).
ATTNGEN_AVX512 void load_row_f32_avx512(ElemType type, const void* src, int64_t n, float scale, float* dst) {
  const __m512 vs = _mm512_set1_ps(scale);
  for (int64_t k = 0; k < n; k += 16) {
    const __mmask16 m = n - k >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - k)) - 1);
    __m512 x;
    switch (type) {
      case ElemType::f32: x = _mm512_maskz_loadu_ps(m, static_cast<const float*>(src) + k); break;
      case ElemType::f16:
        x = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(src) + k));
        break;
      default:
        x = _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(src) + k)), 16));
        break;
    }
    _mm512_mask_storeu_ps(dst + k, m, _mm512_mul_ps(vs, x));
  }
}

// bf16 round-to-nearest-even of 16 lanes, NaN kept quiet (as f32_to_bf16_rne).
ATTNGEN_AVX512 inline __m256i to_bf16_rne(__m512 x) {
  const __m512i b = _mm512_castps_si512(x);
  const __m512i rounded = _mm512_add_epi32(b, _mm512_add_epi32(_mm512_set1_epi32(0x7fff),
                                                                _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1))));
  const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  const __m512i r = _mm512_mask_or_epi32(rounded, nan, b, _mm512_set1_epi32(0x400000));
  return _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16));
}

ATTNGEN_AVX512 void store_row_avx512(ElemType type, const float* src, int64_t n, float mul, void* dst) {
  const __m512 vm = _mm512_set1_ps(mul);
  for (int64_t k = 0; k < n; k += 16) {
    const __mmask16 m = n - k >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - k)) - 1);
    const __m512 x = _mm512_mul_ps(vm, _mm512_maskz_loadu_ps(m, src + k));
    switch (type) {
      case ElemType::f32: _mm512_mask_storeu_ps(static_cast<float*>(dst) + k, m, x); break;
      case ElemType::f16:
        _mm256_mask_storeu_epi16(static_cast<uint16_t*>(dst) + k, m, _mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT));
        break;
      default: _mm256_mask_storeu_epi16(static_cast<uint16_t*>(dst) + k, m, to_bf16_rne(x)); break;
    }
  }
}

bool use_avx512() { return cpu_info().isa == Isa::avx512; }

}  // namespace
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

ATTNGEN_AVX2 void load_row_f32(ElemType type, const void* src, int64_t stride, int64_t n, float scale, float* dst) {
  if (stride == 1 && use_avx512()) return load_row_f32_avx512(type, src, n, scale, dst);
  int64_t k = 0;
  const __m256 vs = _mm256_set1_ps(scale);
  switch (type) {
    case ElemType::f32: {
      const float* p = static_cast<const float*>(src);
      if (stride == 1)
        for (; k + 8 <= n; k += 8) _mm256_storeu_ps(dst + k, _mm256_mul_ps(vs, _mm256_loadu_ps(p + k)));
      for (; k < n; ++k) dst[k] = scale * p[k * stride];
      break;
    }
    case ElemType::f16: {
      const uint16_t* p = static_cast<const uint16_t*>(src);
      if (stride == 1)
        for (; k + 8 <= n; k += 8)
          _mm256_storeu_ps(dst + k,
                           _mm256_mul_ps(vs, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + k)))));
      for (; k < n; ++k) dst[k] = scale * _cvtsh_ss(p[k * stride]);
      break;
    }
    case ElemType::bf16: {
      const uint16_t* p = static_cast<const uint16_t*>(src);
      if (stride == 1)
        for (; k + 8 <= n; k += 8) {
          const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + k)));
          _mm256_storeu_ps(dst + k, _mm256_mul_ps(vs, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16))));
        }
      for (; k < n; ++k) dst[k] = scale * bf16_to_float(p[k * stride]);
      break;
    }
    default: break;
  }
}

ATTNGEN_AVX2 void store_row(ElemType type, const float* src, int64_t n, float mul, void* dst, int64_t stride) {
  if (stride == 1 && use_avx512()) return store_row_avx512(type, src, n, mul, dst);
  int64_t k = 0;
  const __m256 vm = _mm256_set1_ps(mul);
  switch (type) {
    case ElemType::f32: {
      float* p = static_cast<float*>(dst);
      if (stride == 1)
        for (; k + 8 <= n; k += 8) _mm256_storeu_ps(p + k, _mm256_mul_ps(vm, _mm256_loadu_ps(src + k)));
      for (; k < n; ++k) p[k * stride] = mul * src[k];
      break;
    }
    case ElemType::f16: {
      uint16_t* p = static_cast<uint16_t*>(dst);
      if (stride == 1)
        for (; k + 8 <= n; k += 8)
          _mm_storeu_si128(reinterpret_cast<__m128i*>(p + k),
                           _mm256_cvtps_ph(_mm256_mul_ps(vm, _mm256_loadu_ps(src + k)), _MM_FROUND_TO_NEAREST_INT));
      for (; k < n; ++k) p[k * stride] = _cvtss_sh(mul * src[k], _MM_FROUND_TO_NEAREST_INT);
      break;
    }
    case ElemType::bf16: {
      uint16_t* p = static_cast<uint16_t*>(dst);
      for (; k < n; ++k) p[k * stride] = f32_to_bf16_rne(mul * src[k]);
      break;
    }
    default: break;
  }
}

void rows_to_lanes(const float* rows, int64_t nrows, int64_t row_stride, int cols, int width, float* lanes) {
  const int64_t passes = (nrows + width - 1) / width;
  std::fill(lanes, lanes + passes * cols * width, 0.f);
  for (int64_t r = 0; r < nrows; ++r)
    for (int c = 0; c < cols; ++c) lanes[((r / width) * cols + c) * width + r % width] = rows[r * row_stride + c];
}

void lanes_to_rows(const float* lanes, int64_t nrows, int cols, int width, float* rows, int64_t row_stride) {
  for (int64_t r = 0; r < nrows; ++r)
    for (int c = 0; c < cols; ++c) rows[r * row_stride + c] = lanes[((r / width) * cols + c) * width + r % width];
}

void copy_rows_padded(const void* src, int64_t row_stride, int64_t nrows, int64_t nrows_padded, int64_t row_bytes,
                      void* dst) {
  char* d = static_cast<char*>(dst);
  for (int64_t r = 0; r < nrows; ++r)
    std::memcpy(d + r * row_bytes, static_cast<const char*>(src) + r * row_stride, size_t(row_bytes));
  std::memset(d + nrows * row_bytes, 0, size_t((nrows_padded - nrows) * row_bytes));
}

}  // namespace attngen::x86
