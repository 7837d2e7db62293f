// Conversions between storage rows (f32/f16/bf16, any element stride) and f32
// working rows, compiled for AVX2+F16C (the x86 backend's floor).
#pragma once

#include <cstdint>

#include "runtime/core/dtype.hpp"

namespace attngen::x86 {

// dst[k] = scale * src[k * stride] for k < n.
void load_row_f32(ElemType type, const void* src, int64_t stride, int64_t n, float scale, float* dst);
// dst[k * stride] = round_to_type(mul * src[k]), nearest-even.
void store_row(ElemType type, const float* src, int64_t n, float mul, void* dst, int64_t stride);

}  // namespace attngen::x86
