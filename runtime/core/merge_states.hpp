// Merging partial attention states: (O, LSE) pairs computed over disjoint key
// sets become the state over their union (split-KV decoding, cascade/prefix
// sharing, context parallelism). Exact up to rounding, computed in double.
#pragma once

#include <vector>

#include "runtime/core/tensor.hpp"

namespace attngen {

// o_parts[i]: [R..., Dv] (f32, f16 or bf16; rank 2-4), lse_parts[i]: f32
// [R...] (natural log, as the kernels write it); o: the output, shaped as the
// parts, any of the three float dtypes; lse: optional f32 [R...] output.
// Per row: m = max LSE_i; O = sum_i exp(LSE_i - m) O_i / sum_i exp(LSE_i - m),
// LSE = m + log(sum_i exp(LSE_i - m)). A part whose LSE is -inf is empty: its
// O is not read. Every part empty: O = 0, LSE = -inf. Any LSE NaN or +inf:
// O and LSE NaN. o and lse may be one of the parts (same data and strides).
// Throws Error naming the tensor on a bad dtype, shape or pointer.
void merge_states(const std::vector<TensorRef>& o_parts, const std::vector<TensorRef>& lse_parts, const TensorRef& o,
                  const TensorRef& lse);

// The checks of merge_states (dtypes, shapes, addressing), shared with the
// CUDA merge (runtime/cuda/merge_states_cuda.hpp); returns the rows (the
// product of o's leading extents) and Dv. Throws Error naming the tensor.
struct MergeShape {
  int lead_rank = 0;  // o.rank - 1
  int64_t rows = 0, dv = 0;
};
MergeShape check_merge_states(const std::vector<TensorRef>& o_parts, const std::vector<TensorRef>& lse_parts,
                              const TensorRef& o, const TensorRef& lse);

}  // namespace attngen
