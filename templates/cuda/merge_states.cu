// Partial attention states (O_i, LSE_i) over disjoint key sets merged into
// the state over their union, on the GPU: attngen_merge_states_cuda
// (runtime/cuda/merge_states_cuda.cpp renders templates/common/merge_params.h,
// templates/cuda/ptx.cuh and this file into one module). The semantics are
// the host merge's (runtime/core/merge_states.hpp); this computes them in f32.
// Per row, with m = max_i LSE_i and w_i = exp(LSE_i - m):
//   O = sum_i w_i O_i / sum_i w_i,  LSE = m + log(sum_i w_i).
// A part whose LSE is -inf is empty: its O is not read. Every part empty:
// O = 0, LSE = -inf. A NaN or +inf LSE: the row's O and LSE are NaN.
//
// A warp per row, a lane per column (and every 32nd after). A lane reads
// every part of its columns before it writes them, and the LSE is written
// once the whole warp has read the parts' LSEs, so O and the LSE may be one
// of the parts (the same view) to merge in place.

__device__ __forceinline__ float ag_state_load(const void* base, int dtype, long long off) {
  if (dtype == AG_STATE_F32) return static_cast<const float*>(base)[off];
  const unsigned short u = static_cast<const unsigned short*>(base)[off];
  return dtype == AG_STATE_F16 ? ag_half_to_float(u) : __int_as_float(int(unsigned(u) << 16));
}

__device__ __forceinline__ void ag_state_store(void* base, int dtype, long long off, float x) {
  if (dtype == AG_STATE_F32)
    static_cast<float*>(base)[off] = x;
  else
    static_cast<unsigned short*>(base)[off] = dtype == AG_STATE_F16 ? ag_float_to_half(x) : ag_float_to_bf16(x);
}

#define AG_MERGE_COLUMNS 8

extern "C" __global__ void __launch_bounds__(AG_MERGE_STATES_THREADS) AG_MERGE_STATES_ENTRY(const AgMergeParams p) {
  const long long row = (long long)blockIdx.x * (AG_MERGE_STATES_THREADS / 32) + threadIdx.x / 32;
  if (row >= p.rows) return;  // the whole warp
  const int lane = threadIdx.x % 32;
  const long long i2 = row % p.lead[2], i1 = row / p.lead[2] % p.lead[1], i0 = row / p.lead[2] / p.lead[1];
  const float inf = __int_as_float(0x7f800000), nan_value = __int_as_float(0x7fc00000);

  float m = -inf;
  bool invalid = false;
  for (int s = 0; s < p.parts; ++s) {
    const AgStateView& v = p.part[s];
    const float l = v.lse[i0 * v.lse_str[0] + i1 * v.lse_str[1] + i2 * v.lse_str[2]];
    invalid = invalid || l != l || l == inf;
    m = fmaxf(m, l);
  }
  const bool empty = !invalid && m == -inf;
  float sum = 0.f;
  for (int s = 0; s < p.parts && !invalid && !empty; ++s) {
    const AgStateView& v = p.part[s];
    const float l = v.lse[i0 * v.lse_str[0] + i1 * v.lse_str[1] + i2 * v.lse_str[2]];
    if (l != -inf) sum += expf(l - m);
  }
  const float inv_sum = 1.f / sum;  // sum >= 1: the part at the maximum weighs 1

  // Columns in chunks of AG_MERGE_COLUMNS per lane (256 a warp: all of them
  // for head dims up to 256), so that each part's weight is computed once a
  // chunk and its loads of a chunk are in flight together.
  const AgStateView& out = p.out;
  for (int c0 = 0; c0 < p.dv; c0 += 32 * AG_MERGE_COLUMNS) {
    float acc[AG_MERGE_COLUMNS];
#pragma unroll
    for (int j = 0; j < AG_MERGE_COLUMNS; ++j) acc[j] = 0.f;
    for (int s = 0; s < p.parts && !invalid && !empty; ++s) {
      const AgStateView& v = p.part[s];
      const float l = v.lse[i0 * v.lse_str[0] + i1 * v.lse_str[1] + i2 * v.lse_str[2]];
      if (l == -inf) continue;  // an empty part: its O is not read
      const float w = expf(l - m);
      const long long row_off = i0 * v.o_str[0] + i1 * v.o_str[1] + i2 * v.o_str[2];
#pragma unroll
      for (int j = 0; j < AG_MERGE_COLUMNS; ++j) {
        const int c = c0 + 32 * j + lane;
        if (c < p.dv) acc[j] += w * ag_state_load(v.o, v.dtype, row_off + c * v.o_str[3]);
      }
    }
    const long long row_off = i0 * out.o_str[0] + i1 * out.o_str[1] + i2 * out.o_str[2];
#pragma unroll
    for (int j = 0; j < AG_MERGE_COLUMNS; ++j) {
      const int c = c0 + 32 * j + lane;
      if (c < p.dv)
        ag_state_store(out.o, out.dtype, row_off + c * out.o_str[3], invalid ? nan_value : empty ? 0.f : acc[j] * inv_sum);
    }
  }
  if (out.lse) {
    __syncwarp();  // every lane has read the parts' LSEs (one may be this)
    if (lane == 0)
      out.lse[i0 * out.lse_str[0] + i1 * out.lse_str[1] + i2 * out.lse_str[2]] =
          invalid ? nan_value : empty ? -inf : m + logf(sum);
  }
}
