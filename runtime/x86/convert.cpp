#include "runtime/x86/convert.hpp"

#include <cstring>
#include <immintrin.h>

#include "runtime/core/half.hpp"

#define ATTNGEN_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace attngen::x86 {
namespace {

ATTNGEN_AVX2 inline uint16_t f32_to_bf16_rne(float x) {
  uint32_t b;
  std::memcpy(&b, &x, 4);
  if ((b & 0x7fffffffu) > 0x7f800000u) return uint16_t((b >> 16) | 0x40);  // quiet NaN
  b += 0x7fffu + ((b >> 16) & 1u);
  return uint16_t(b >> 16);
}

}  // namespace

ATTNGEN_AVX2 void load_row_f32(ElemType type, const void* src, int64_t stride, int64_t n, float scale, float* dst) {
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

}  // namespace attngen::x86
