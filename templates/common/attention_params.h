// The argument of every rendered attention kernel, shared by the host (the
// runtime fills it from checked arguments, runtime/core/attn_params.cpp) and
// the kernels: CUDA (templates/cuda/attention_fwd_*.cu, by value) and CPU
// (templates/llvm/attention_cpu.cpp, by pointer; also in the header of an
// ahead-of-time object, docs/aot.md). Plain C with no includes, so that
// NVRTC, clang and the host compiler read the same text. Views are the checked, normalised views of
// runtime/core/args.hpp: logical [B, H, S, D] order whatever the layout,
// strides in elements, zero strides on broadcast axes.
#ifndef ATTNGEN_ATTENTION_PARAMS_H
#define ATTNGEN_ATTENTION_PARAMS_H

typedef long long ag_i64;

// Element type of a run-time custom mask (the spec fixes bool or additive,
// the caller picks the storage).
enum { AG_MASK_BYTES = 0, AG_MASK_F32 = 1, AG_MASK_F16 = 2, AG_MASK_BF16 = 3 };

struct AttnParams {
  const void* q;  // [B, Hq, Sq, D], spec dtype
  const void* k;  // [B, Hkv, Skv, D]
  const void* v;  // [B, Hkv, Skv, Dv]
  void* o;        // [B, Hq, Sq, Dv]
  float* lse;     // [B, Hq, Sq] or null
  const int* q_lens;       // padding: [B] or null (then the extent)
  const int* kv_lens;      // padding: [B] or null
  const int* q_doc;        // document: [B, Sq] or null
  const int* kv_doc;       // document: [B, Skv] or null
  const int* prefix_lens;  // prefix_lm without a static prefix: [B] or null
  const void* mask;        // custom: [B, Hq, Sq, Skv] (broadcast strides) or null
  const float* alibi;      // alibi: [B, Hq] (zero batch stride for [Hq]) or null
  ag_i64 batch, sq, skv;   // tensor extents
  ag_i64 q_str[4], k_str[4], v_str[4], o_str[4];
  ag_i64 lse_str[3];
  ag_i64 mask_str[4];
  ag_i64 alibi_str[2];
  ag_i64 q_lens_str, kv_lens_str, prefix_lens_str;
  ag_i64 q_doc_str[2], kv_doc_str[2];
  int mask_type;  // AG_MASK_*
};

#endif
