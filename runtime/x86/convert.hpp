// Conversions between storage rows (f32/f16/bf16, any element stride) and f32
// working rows, compiled for AVX2+F16C (the x86 backend's floor); contiguous
// rows use AVX-512 with masked tails where the x86 backend generates AVX-512.
#pragma once

#include <cstdint>

#include "runtime/core/dtype.hpp"

namespace attngen::x86 {

// dst[k] = scale * src[k * stride] for k < n.
void load_row_f32(ElemType type, const void* src, int64_t stride, int64_t n, float scale, float* dst);
// The lanes path's operand layout (abi.hpp, QkLanesArgs): rows [0, nrows) of
// `cols` floats, `row_stride` floats apart, as lanes[pass][col][width] with
// the row r at pass r / width, lane r % width; lanes of rows past nrows are zeros.
void rows_to_lanes(const float* rows, int64_t nrows, int64_t row_stride, int cols, int width, float* lanes);
// Its inverse for rows [0, nrows): rows[r * row_stride + c].
void lanes_to_rows(const float* lanes, int64_t nrows, int cols, int width, float* rows, int64_t row_stride);
// Rows [0, nrows) of `row_bytes` bytes, `row_stride` bytes apart, copied to
// dst + r * row_bytes; rows [nrows, nrows_padded) are zero bytes.
void copy_rows_padded(const void* src, int64_t row_stride, int64_t nrows, int64_t nrows_padded, int64_t row_bytes,
                      void* dst);

// Packed blocks are split into groups of `group` columns (keys of K, columns
// of V: the GEMM microtile's width), each group contiguous, so that a
// microtile streams one dense slice: element (step, col) of a block with
// `steps` reduction steps sits at packed_index(steps, group, step, col).
inline int64_t packed_index(int steps, int group, int step, int col) {
  return int64_t(col / group) * steps * group + int64_t(step) * group + col % group;
}

// Transposes keys [0, nkeys) of a K block to f32, kt[packed_index(D, group, d, key)]
// (keys past nkeys are zeros). Row r of the block starts at k + r * row_stride
// elements; elements within a row are contiguous.
void pack_kt_block(ElemType type, const void* k, int64_t row_stride, int nkeys, int head_dim, int group, float* kt);

// bf16 pairs for vdpbf16ps (TilePlan::bf16_dot), as 32-bit words holding
// two bf16 values (the first in the low half); odd counts end with a 0 half.
// Elements are `stride` (rows: `row_stride`) elements apart.
// dst[p] = (src[2p], src[2p + 1]) for the n elements of a Q row.
void load_row_pairs(const void* src, int64_t stride, int64_t n, uint32_t* dst);
// kp[packed_index(ceil(D / 2), group, p, key)] = (K[key][2p], K[key][2p + 1]):
// a K block transposed into pairs along D; keys past nkeys are zeros.
void pack_k_pairs(const void* k, int64_t row_stride, int64_t stride, int nkeys, int head_dim, int group, uint32_t* kp);
// vp[packed_index(32, group, q, c)] = (V[2q][c], V[2q + 1][c]): a V block in
// pairs of keys; keys past nkeys and columns past dv (up to dv_padded) are zeros.
void pack_v_pairs(const void* v, int64_t row_stride, int64_t stride, int nkeys, int dv, int dv_padded, int group,
                  uint32_t* vp);

// Summary of n mask elements at p (stride in elements): whether any and
// whether all of them keep the pair (bool/u8: nonzero; float types: not -inf),
// and for float types the index of the first NaN or +inf (invalid in an
// additive mask), -1 if none. Float masks are scanned whole.
struct MaskSummary {
  bool any = false, all = true;
  int64_t invalid = -1;
};
void scan_mask(ElemType type, const void* p, int64_t stride, int64_t n, MaskSummary* acc);

// dst[k * stride] = round_to_type(mul * src[k]), nearest-even.
void store_row(ElemType type, const float* src, int64_t n, float mul, void* dst, int64_t stride);

}  // namespace attngen::x86
