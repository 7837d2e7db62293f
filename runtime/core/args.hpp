// The arguments of one attention call and their validation against a spec.
// Checking happens once, here, before any backend runs; backends receive
// normalised views and never see layout or broadcasting conventions.
#pragma once

#include <algorithm>
#include <cstdint>

#include "codegen/spec/spec.hpp"
#include "runtime/core/tensor.hpp"

namespace attngen {

// Where the tensors of a call live: host memory (CPU backends) or the memory
// of a CUDA device (device pointers in TensorRef::data, for the cuda backend).
enum class Memory { host, device };
const char* memory_name(Memory m);  // "host", "device"

struct AttentionArgs {
  Memory memory = Memory::host;
  TensorRef q, k, v;  // inputs, spec dtype, shaped per spec layout
  TensorRef o;        // output, spec dtype
  TensorRef lse;      // output f32 [B,Hq,Sq], required iff spec.return_lse
  // Run-time mask data; each required iff the spec uses it, an error otherwise.
  TensorRef q_lens, kv_lens;  // padding: i32 [B]
  TensorRef q_doc, kv_doc;    // document: i32 [B,Sq], [B,Skv]
  TensorRef mask;             // custom: bool/u8 or additive f32/spec dtype, broadcast to [B,Hq,Sq,Skv]
  TensorRef alibi_slopes;     // alibi: f32 [Hq] or [B,Hq]
  TensorRef prefix_lens;      // prefix_lm without static prefix: i32 [B]
};

// Checked arguments in one logical shape, whatever the spec's layout:
// q [B,Hq,Sq,D], k [B,Hkv,Skv,D], v [B,Hkv,Skv,Dv], o [B,Hq,Sq,Dv] (strides
// permuted for bshd), mask 4-D [B,Hq,Sq,Skv] with zero strides on broadcast
// axes, alibi_slopes 2-D [B,Hq] (zero batch stride for [Hq]).
struct BoundArgs {
  AttentionArgs t;
  int64_t batch = 0, sq = 0, skv = 0;  // tensor extents

  // Per-entry lengths: the padding lengths when present, else the extents
  // (host memory only: device tensors are never read on the host). Checked
  // by bind_args, but read again while items run: clamped to the extents, so
  // that a caller whose output overlaps them (or who changes them during the
  // run) gets wrong numbers, never an access out of bounds or a scratch
  // buffer sized by garbage (fuzz_api_args, oom-98be3af8).
  int64_t q_len(int64_t b) const {
    return t.q_lens.present() ? std::clamp<int64_t>(t.q_lens.ptr<int32_t>()[b * t.q_lens.stride[0]], 0, sq) : sq;
  }
  int64_t kv_len(int64_t b) const {
    return t.kv_lens.present() ? std::clamp<int64_t>(t.kv_lens.ptr<int32_t>()[b * t.kv_lens.stride[0]], 0, skv) : skv;
  }
};

// Throws Error naming the argument, the expected and the actual value.
// Shapes, dtypes and pointers are checked whatever args.memory is; the values
// of q_lens, kv_lens and prefix_lens only in host memory (device memory is
// not read here: the CUDA kernels clamp lengths to the extents).
BoundArgs bind_args(const Spec& spec, const AttentionArgs& args);

// Throws Error (naming `name`) unless a present tensor with extents >= 0 can
// address its elements: non-null and element-aligned data (unless empty), an
// element count and byte offsets that fit in int64.
void check_addressing(const std::string& name, const TensorRef& t);

// Additive custom masks: throws Error naming the first element of the bound
// view [B, Hq, Sq, Skv] that is +inf or NaN (invalid per docs/spec.md). Host
// memory only; visits every element (broadcast axes included).
void check_additive_mask(const BoundArgs& args, int num_heads);

// Address of element (i0, i1, i2, i3) of a rank-4 (or lower) view.
inline const char* element_ptr(const TensorRef& t, int64_t i0, int64_t i1 = 0, int64_t i2 = 0, int64_t i3 = 0) {
  const int64_t off = i0 * t.stride[0] + i1 * t.stride[1] + i2 * t.stride[2] + i3 * t.stride[3];
  return static_cast<const char*>(t.data) + off * int64_t(elem_size(t.type));
}

}  // namespace attngen
