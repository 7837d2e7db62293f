// The kernel's entry points, for every compute path (the body before this,
// ag_attention<SPLIT>, is attention_fwd_mma.cu, _wgmma.cu or _simt.cu):
//   AG_ENTRY(p): the whole key range of each tile into O and the LSE;
//   AG_SPLIT_ENTRY(p, part): split-KV, one share of each tile's key blocks
//     (grid z = B x splits) into partial results (AgPartial);
//   AG_MERGE_ENTRY(p, part, splits): those merged into O and the LSE.
// Two instances of the body rather than a run-time branch: the split's
// epilogue costs the whole-range kernel no register.
// AG_MODULE picks what one compile emits: 1 the kernel, 2 the split-KV
// instance and the merge, 0 (the default, e.g. a dump compiled by hand) all
// three. The runtime compiles 1 and 2 side by side (two NVRTC programs, two
// cubins): ptxas takes about as long for each instance, so the two compiles
// finish in about half the time of one with both.
#ifndef AG_MODULE
#define AG_MODULE 0
#endif

#if AG_MODULE != 2
extern "C" __global__ void __launch_bounds__(AG_THREADS, AG_MIN_BLOCKS) AG_ENTRY(const AttnParams p) {
  ag_attention<false>(p, nullptr);
}
#endif

#if AG_MODULE != 1
extern "C" __global__ void __launch_bounds__(AG_THREADS, AG_MIN_BLOCKS) AG_SPLIT_ENTRY(const AttnParams p, float* part) {
  ag_attention<true>(p, part);
}

// Split-KV: the partial results of a row's key splits (AgPartial in
// attention_common.cuh) merged into O and the LSE. A block per (query, head,
// batch entry), a thread per output column (and every AG_MERGE_THREADS-th after):
//   M = max_s lse_s,  w_s = exp(lse_s - M),  O = sum_s w_s O_s / sum_s w_s,
//   LSE = M + log(sum_s w_s).
// A row no split allowed a key (every lse_s = -inf) is the empty row
// (O = 0, LSE = -inf); a NaN in a split's LSE or O makes the row NaN.

extern "C" __global__ void __launch_bounds__(AG_MERGE_THREADS) AG_MERGE_ENTRY(const AttnParams p, const float* part,
                                                                               int splits) {
  const ag_i64 i = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const ag_i64 rows = p.batch * AG_NUM_HEADS * p.sq;
  const ag_i64 x = (b * AG_NUM_HEADS + h) * p.sq + i;  // the row in each split's results
  const float* lse = part + splits * rows * AG_HEAD_DIM_V;
  float mx = -AG_INF;
  bool nan = false;
  for (int s = 0; s < splits; ++s) {
    const float v = lse[s * rows + x];
    nan = nan || v != v;
    mx = fmaxf(mx, v);
  }
  const bool empty = mx == -AG_INF;
  float sum = 0.f;
  for (int s = 0; s < splits && !empty; ++s) sum += expf(lse[s * rows + x] - mx);
  ag_elem* dst = static_cast<ag_elem*>(p.o) + b * p.o_str[0] + h * p.o_str[1] + i * p.o_str[2];
  const float nan_value = __int_as_float(0x7fc00000);
  for (int c = threadIdx.x; c < AG_HEAD_DIM_V; c += AG_MERGE_THREADS) {
    float acc = 0.f;
    for (int s = 0; s < splits && !empty; ++s)
      acc += expf(lse[s * rows + x] - mx) * part[(s * rows + x) * AG_HEAD_DIM_V + c];
    dst[c * p.o_str[3]] = ag_from_float(nan ? nan_value : empty ? 0.f : acc / sum);
  }
  if (AG_RETURN_LSE && threadIdx.x == 0)
    p.lse[b * p.lse_str[0] + h * p.lse_str[1] + i * p.lse_str[2]] = nan ? nan_value : empty ? -AG_INF : mx + logf(sum);
}
#endif
