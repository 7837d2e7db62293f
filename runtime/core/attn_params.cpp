#include "runtime/core/attn_params.hpp"

#include "runtime/core/error.hpp"

namespace attngen {
namespace {

template <size_t N>
void strides(const TensorRef& t, ag_i64 (&out)[N]) {
  for (size_t d = 0; d < N; ++d) out[d] = d < size_t(t.rank) ? t.stride[d] : 0;
}

}  // namespace

AttnParams make_attn_params(const Spec& spec, const BoundArgs& args) {
  const AttentionArgs& t = args.t;
  AttnParams p{};
  p.q = t.q.data, p.k = t.k.data, p.v = t.v.data;
  p.o = const_cast<void*>(t.o.data);
  p.lse = spec.return_lse ? static_cast<float*>(const_cast<void*>(t.lse.data)) : nullptr;
  p.q_lens = t.q_lens.ptr<int>(), p.kv_lens = t.kv_lens.ptr<int>();
  p.q_doc = t.q_doc.ptr<int>(), p.kv_doc = t.kv_doc.ptr<int>();
  p.prefix_lens = t.prefix_lens.ptr<int>();
  p.mask = t.mask.data;
  p.alibi = t.alibi_slopes.ptr<float>();
  p.batch = args.batch, p.sq = args.sq, p.skv = args.skv;
  strides(t.q, p.q_str), strides(t.k, p.k_str), strides(t.v, p.v_str), strides(t.o, p.o_str);
  strides(t.lse, p.lse_str);
  strides(t.mask, p.mask_str);
  strides(t.alibi_slopes, p.alibi_str);
  p.q_lens_str = t.q_lens.present() ? t.q_lens.stride[0] : 0;
  p.kv_lens_str = t.kv_lens.present() ? t.kv_lens.stride[0] : 0;
  p.prefix_lens_str = t.prefix_lens.present() ? t.prefix_lens.stride[0] : 0;
  strides(t.q_doc, p.q_doc_str), strides(t.kv_doc, p.kv_doc_str);
  p.mask_type = AG_MASK_BYTES;
  if (t.mask.present()) {
    switch (t.mask.type) {
      case ElemType::b8:
      case ElemType::u8: p.mask_type = AG_MASK_BYTES; break;
      case ElemType::f32: p.mask_type = AG_MASK_F32; break;
      case ElemType::f16: p.mask_type = AG_MASK_F16; break;
      case ElemType::bf16: p.mask_type = AG_MASK_BF16; break;
      default: throw Error(std::string("mask: dtype ") + elem_name(t.mask.type) + " is not a mask type the kernels read");
    }
  }
  return p;
}

}  // namespace attngen
