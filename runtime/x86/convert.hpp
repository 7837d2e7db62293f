// Conversions between storage rows (f32/f16/bf16, any element stride) and f32
// working rows, compiled for AVX2+F16C (the x86 backend's floor).
#pragma once

#include <cstdint>

#include "runtime/core/dtype.hpp"

namespace attngen::x86 {

// dst[k] = scale * src[k * stride] for k < n.
void load_row_f32(ElemType type, const void* src, int64_t stride, int64_t n, float scale, float* dst);
// Transposes keys [0, nkeys) of a K block to f32 kt[d * 64 + key] (keys past
// nkeys are zeros). Row r of the block starts at k + r * row_stride elements;
// elements within a row are contiguous.
void pack_kt_block(ElemType type, const void* k, int64_t row_stride, int nkeys, int head_dim, float* kt);

// bf16 pairs for vdpbf16ps (TilePlan::bf16_dot), as 32-bit words holding
// two bf16 values (the first in the low half); odd counts end with a 0 half.
// Elements are `stride` (rows: `row_stride`) elements apart.
// dst[p] = (src[2p], src[2p + 1]) for the n elements of a Q row.
void load_row_pairs(const void* src, int64_t stride, int64_t n, uint32_t* dst);
// kp[p * 64 + key] = (K[key][2p], K[key][2p + 1]): a K block transposed into
// pairs along D; keys past nkeys are zeros.
void pack_k_pairs(const void* k, int64_t row_stride, int64_t stride, int nkeys, int head_dim, uint32_t* kp);
// vp[q * dv_padded + c] = (V[2q][c], V[2q + 1][c]): a V block in pairs of
// keys; keys past nkeys and columns past dv are zeros.
void pack_v_pairs(const void* v, int64_t row_stride, int64_t stride, int nkeys, int dv, int dv_padded, uint32_t* vp);

// Summary of n mask elements at p (stride in elements): whether any and
// whether all of them keep the pair (bool/u8: nonzero; float types: not -inf).
struct MaskSummary {
  bool any = false, all = true;
};
void scan_mask(ElemType type, const void* p, int64_t stride, int64_t n, MaskSummary* acc);

// dst[k * stride] = round_to_type(mul * src[k]), nearest-even.
void store_row(ElemType type, const float* src, int64_t n, float mul, void* dst, int64_t stride);

}  // namespace attngen::x86
