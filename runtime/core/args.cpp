#include "runtime/core/args.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>

#include "codegen/spec/semantics.hpp"
#include "runtime/core/error.hpp"
#include "runtime/core/half.hpp"

namespace attngen {
namespace {

std::string dims_string(const std::vector<std::string>& names) {
  std::string s = "[";
  for (size_t i = 0; i < names.size(); ++i) s += (i ? ", " : "") + names[i];
  return s + "]";
}

std::string pointer_string(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}

struct Dim {
  std::string name;      // "B", "Sq", "head_dim", ...
  int64_t* bind;         // free dimension: bound by the first tensor that has it
  int64_t fixed;         // otherwise: the required extent
};

// Checks presence, dtype, rank and extents; binds free dimensions.
void check_tensor(const char* name, const TensorRef& t, std::initializer_list<ElemType> types,
                  std::vector<Dim> dims, bool required_present = true) {
  if (!t.present()) {
    if (required_present) throw Error(std::string(name) + ": required by the spec but not given");
    return;
  }
  bool type_ok = false;
  std::string want;
  for (ElemType e : types) {
    type_ok = type_ok || e == t.type;
    want += std::string(want.empty() ? "" : " or ") + elem_name(e);
  }
  if (!type_ok) throw Error(std::string(name) + ": expected dtype " + want + ", got " + elem_name(t.type));
  std::vector<std::string> names;
  for (const Dim& d : dims) names.push_back(d.bind && *d.bind < 0 ? d.name : d.bind ? std::to_string(*d.bind) : std::to_string(d.fixed));
  if (t.rank != int(dims.size()))
    throw Error(std::string(name) + ": expected a rank-" + std::to_string(dims.size()) + " tensor " +
                dims_string(names) + ", got shape " + shape_string(t));
  for (size_t i = 0; i < dims.size(); ++i) {
    const Dim& d = dims[i];
    const int64_t want_n = d.bind ? *d.bind : d.fixed;
    if (t.shape[i] < 0) throw Error(std::string(name) + ": negative extent in shape " + shape_string(t));
    if (d.bind && want_n < 0) {
      *d.bind = t.shape[i];
    } else if (t.shape[i] != want_n) {
      throw Error(std::string(name) + ": dimension " + std::to_string(i) + " (" + d.name + ") must be " +
                  std::to_string(want_n) + ", got " + std::to_string(t.shape[i]) + " (shape " + shape_string(t) +
                  ")");
    }
  }
  check_addressing(name, t);
}

void reject_unused(const char* name, const TensorRef& t, const char* needs) {
  if (t.present())
    throw Error(std::string(name) + ": given, but the spec has no " + needs + " (remove it or add the mask to the spec)");
}

// Logical [B,H,S,D] view of a tensor stored per the spec layout.
TensorRef to_bhsd(TensorRef t, Layout layout) {
  if (layout == Layout::bshd) {
    std::swap(t.shape[1], t.shape[2]);
    std::swap(t.stride[1], t.stride[2]);
  }
  return t;
}

void check_lengths(const char* name, const TensorRef& t, int64_t lo, int64_t hi, const char* extent) {
  for (int64_t b = 0; b < t.shape[0]; ++b) {
    const int32_t n = t.ptr<int32_t>()[b * t.stride[0]];
    if (n < lo || n > hi)
      throw Error(std::string(name) + "[" + std::to_string(b) + "]: must be in [" + std::to_string(lo) + ", " +
                  std::to_string(hi) + "] (" + extent + "), got " + std::to_string(n));
  }
}

}  // namespace

// A present tensor must address its elements: data may be null only when it
// has none and is otherwise aligned to its element size; its element count,
// and the byte offset of every element (from its shape and strides), must
// fit in int64, so that no backend's index arithmetic overflows. Extents are
// already known to be >= 0.
void check_addressing(const std::string& name, const TensorRef& t) {
  const int64_t n = t.numel();
  if (n == 0) return;  // empty: nothing is read or written through it
  if (t.data == nullptr) throw Error(name + ": null data pointer");
  // Strides count elements, so an aligned pointer aligns every element; a
  // misaligned one would make each load undefined (fuzz_api_args found it).
  if (const size_t es = elem_size(t.type); reinterpret_cast<uintptr_t>(t.data) % es != 0)
    throw Error(name + ": data pointer " + pointer_string(t.data) + " is not aligned to its " + std::to_string(es) +
                "-byte " + elem_name(t.type) + " elements");
  if (n < 0) throw Error(name + ": shape " + shape_string(t) + " has more than 2^63 elements");
  const std::optional<ElementSpan> span = element_span(t);
  int64_t bytes = 0;
  if (!span || __builtin_mul_overflow(span->hi - span->lo, int64_t(elem_size(t.type)), &bytes))
    throw Error(name + ": strides " + shape_string(t.stride, t.rank) + " of shape " + shape_string(t) +
                " reach elements more than 2^63 bytes apart");
}

const char* memory_name(Memory m) { return m == Memory::device ? "device" : "host"; }

BoundArgs bind_args(const Spec& s, const AttentionArgs& a) {
  BoundArgs r;
  r.batch = r.sq = r.skv = -1;
  if (s.seq_len_q) r.sq = *s.seq_len_q;
  if (s.seq_len_kv) r.skv = *s.seq_len_kv;
  const bool bshd = s.layout == Layout::bshd;
  // Dimension lists in storage order for this layout.
  auto seq_heads = [&](Dim seq, Dim heads, Dim last) {
    return bshd ? std::vector<Dim>{{"B", &r.batch, 0}, seq, heads, last}
                : std::vector<Dim>{{"B", &r.batch, 0}, heads, seq, last};
  };
  const Dim Sq{"Sq", &r.sq, 0}, Skv{"Skv", &r.skv, 0};
  const Dim Hq{"num_heads", nullptr, s.num_heads}, Hkv{"num_kv_heads", nullptr, s.num_kv_heads};
  const Dim D{"head_dim", nullptr, s.head_dim}, Dv{"head_dim_v", nullptr, s.head_dim_v};
  const std::initializer_list<ElemType> storage = {s.dtype};
  check_tensor("q", a.q, storage, seq_heads(Sq, Hq, D));
  check_tensor("k", a.k, storage, seq_heads(Skv, Hkv, D));
  check_tensor("v", a.v, storage, seq_heads(Skv, Hkv, Dv));
  check_tensor("o", a.o, storage, seq_heads(Sq, Hq, Dv));
  if (s.return_lse)
    check_tensor("lse", a.lse, {ElemType::f32}, {{"B", &r.batch, 0}, Hq, Sq});
  else
    reject_unused("lse", a.lse, "return_lse: true");

  const Dim B{"B", &r.batch, 0};
  if (s.has_padding()) {
    check_tensor("kv_lens", a.kv_lens, {ElemType::i32}, {B});
    check_tensor("q_lens", a.q_lens, {ElemType::i32}, {B}, /*required_present=*/false);
  } else {
    reject_unused("kv_lens", a.kv_lens, "padding mask");
    reject_unused("q_lens", a.q_lens, "padding mask");
  }
  if (s.find_mask<DocumentMask>()) {
    check_tensor("q_doc", a.q_doc, {ElemType::i32}, {B, Sq});
    check_tensor("kv_doc", a.kv_doc, {ElemType::i32}, {B, Skv});
  } else {
    reject_unused("q_doc", a.q_doc, "document mask");
    reject_unused("kv_doc", a.kv_doc, "document mask");
  }
  if (s.needs_prefix_lens()) check_tensor("prefix_lens", a.prefix_lens, {ElemType::i32}, {B});
  else reject_unused("prefix_lens", a.prefix_lens, "prefix_lm mask without a static prefix");

  r.t = a;
  if (const CustomMask* cm = s.find_mask<CustomMask>()) {
    const TensorRef& m = a.mask;
    if (!m.present()) throw Error("mask: required by the spec's custom mask but not given");
    const bool additive = cm->format == CustomFormat::additive;
    const bool type_ok = additive ? (m.type == ElemType::f32 || m.type == s.dtype)
                                  : (m.type == ElemType::b8 || m.type == ElemType::u8);
    if (!type_ok)
      throw Error(std::string("mask: expected dtype ") +
                  (additive ? std::string("f32 or ") + elem_name(s.dtype) + " (additive)" : "bool or u8 (bool format)") +
                  ", got " + elem_name(m.type));
    // NumPy broadcasting: align trailing axes with [B, Hq, Sq, Skv].
    const int64_t full[4] = {r.batch, s.num_heads, r.sq, r.skv};
    if (m.rank < 1 || m.rank > 4)
      throw Error("mask: expected rank 1 to 4 broadcasting to [B, Hq, Sq, Skv] = " + shape_string(full, 4) +
                  ", got shape " + shape_string(m));
    TensorRef bm = m;
    bm.rank = 4;
    for (int d = 0; d < 4; ++d) {
      const int src = d - (4 - m.rank);
      const int64_t n = src >= 0 ? m.shape[src] : 1;
      if (n != 1 && n != full[d])
        throw Error("mask: shape " + shape_string(m) + " does not broadcast to [B, Hq, Sq, Skv] = " +
                    shape_string(full, 4) + " (axis " + std::to_string(d) + ": " + std::to_string(n) + ")");
      bm.shape[d] = full[d];
      bm.stride[d] = (src >= 0 && n != 1) ? m.stride[src] : 0;
    }
    check_addressing("mask", m);
    r.t.mask = bm;
  } else {
    reject_unused("mask", a.mask, "custom mask");
  }
  if (s.find_mod<AlibiMod>()) {
    const TensorRef& sl = a.alibi_slopes;
    if (!sl.present()) throw Error("alibi_slopes: required by the spec's alibi score mod but not given");
    if (sl.type != ElemType::f32) throw Error(std::string("alibi_slopes: expected dtype f32, got ") + elem_name(sl.type));
    TensorRef b2 = sl;
    if (sl.rank == 1 && sl.shape[0] == s.num_heads) {
      b2.rank = 2;
      b2.shape[0] = r.batch, b2.shape[1] = s.num_heads;
      b2.stride[0] = 0, b2.stride[1] = sl.stride[0];
    } else if (!(sl.rank == 2 && sl.shape[0] == r.batch && sl.shape[1] == s.num_heads)) {
      throw Error("alibi_slopes: expected shape [" + std::to_string(s.num_heads) + "] or [" + std::to_string(r.batch) +
                  ", " + std::to_string(s.num_heads) + "], got " + shape_string(sl));
    }
    check_addressing("alibi_slopes", sl);
    r.t.alibi_slopes = b2;
  } else {
    reject_unused("alibi_slopes", a.alibi_slopes, "alibi score mod");
  }

  if (s.has_padding() && a.memory == Memory::host) {
    check_lengths("kv_lens", a.kv_lens, 0, r.skv, "the key tensors' sequence extent");
    if (a.q_lens.present()) check_lengths("q_lens", a.q_lens, 0, r.sq, "the query tensor's sequence extent");
  }
  if (s.needs_prefix_lens() && a.memory == Memory::host)
    check_lengths("prefix_lens", a.prefix_lens, 0, INT32_MAX, "a prefix length");

  r.t.q = to_bhsd(a.q, s.layout);
  r.t.k = to_bhsd(a.k, s.layout);
  r.t.v = to_bhsd(a.v, s.layout);
  r.t.o = to_bhsd(a.o, s.layout);
  // An empty tensor's strides were not checked (nothing is addressed through
  // it), so no backend may even form an address from them: zero them
  // (crash-6d3d1e98, a mask with no key and a stride near 2^63).
  for (TensorRef* t : {&r.t.q, &r.t.k, &r.t.v, &r.t.o, &r.t.lse, &r.t.q_lens, &r.t.kv_lens, &r.t.q_doc, &r.t.kv_doc,
                       &r.t.mask, &r.t.alibi_slopes, &r.t.prefix_lens})
    if (t->present() && t->numel() == 0) std::fill(t->stride, t->stride + kMaxRank, int64_t(0));
  return r;
}

void check_additive_mask(const BoundArgs& a, int num_heads) {
  const TensorRef& m = a.t.mask;
  auto load = [&m](const char* p) -> double {
    switch (m.type) {
      case ElemType::f32: return *reinterpret_cast<const float*>(p);
      case ElemType::f16: return f16_to_float(*reinterpret_cast<const uint16_t*>(p));
      case ElemType::bf16: return bf16_to_float(*reinterpret_cast<const uint16_t*>(p));
      default: return 0;  // byte masks hold no values to check
    }
  };
  for (int64_t b = 0; b < a.batch; ++b)
    for (int64_t h = 0; h < num_heads; ++h)
      for (int64_t i = 0; i < a.sq; ++i)
        for (int64_t j = 0; j < a.skv; ++j)
          if (const double v = load(element_ptr(m, b, h, i, j)); !additive_value_valid(v))
            throw Error(additive_value_error(b, h, i, j, v));
}

}  // namespace attngen
