// The fixture of bind_args' tests (test_args.cpp, test_args_limits.cpp): one
// valid call of a spec whose tensors a test breaks one at a time, and
// EXPECT_ERROR for the message it gets.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "codegen/spec/spec.hpp"
#include "runtime/core/args.hpp"
#include "runtime/core/error.hpp"
#include "runtime/core/tensor.hpp"

namespace attngen::args_test {

// Storage for one valid call of `spec` with B = 2, Sq = 5, Skv = 7; tests
// break one thing at a time.
struct Call {
  Spec spec;
  int64_t B = 2, Sq = 5, Skv = 7;
  std::vector<uint8_t> q, k, v, o, mask;
  std::vector<float> lse, slopes;
  std::vector<int32_t> q_lens, kv_lens, q_doc, kv_doc, prefix_lens;
  AttentionArgs a;

  explicit Call(const std::string& json) : spec(parse_spec(json)) {
    if (spec.seq_len_q) Sq = *spec.seq_len_q;
    if (spec.seq_len_kv) Skv = *spec.seq_len_kv;
    const Spec& s = spec;
    const size_t es = elem_size(s.dtype);
    q.assign(size_t(B * Sq * s.num_heads * s.head_dim) * es, 0);
    k.assign(size_t(B * Skv * s.num_kv_heads * s.head_dim) * es, 0);
    v.assign(size_t(B * Skv * s.num_kv_heads * s.head_dim_v) * es, 0);
    o.assign(size_t(B * Sq * s.num_heads * s.head_dim_v) * es, 0);
    a.q = contiguous_view(q.data(), s.dtype, shape(s.num_heads, Sq, s.head_dim));
    a.k = contiguous_view(k.data(), s.dtype, shape(s.num_kv_heads, Skv, s.head_dim));
    a.v = contiguous_view(v.data(), s.dtype, shape(s.num_kv_heads, Skv, s.head_dim_v));
    a.o = contiguous_view(o.data(), s.dtype, shape(s.num_heads, Sq, s.head_dim_v));
    if (s.return_lse) {
      lse.assign(size_t(B * s.num_heads * Sq), 0);
      a.lse = contiguous_view(lse.data(), ElemType::f32, {B, s.num_heads, Sq});
    }
    if (s.has_padding()) {
      kv_lens = {int32_t(Skv), 3};
      q_lens = {int32_t(Sq), 2};
      a.kv_lens = contiguous_view(kv_lens.data(), ElemType::i32, {B});
      a.q_lens = contiguous_view(q_lens.data(), ElemType::i32, {B});
    }
    if (s.find_mask<DocumentMask>()) {
      q_doc.assign(size_t(B * Sq), 0);
      kv_doc.assign(size_t(B * Skv), 0);
      a.q_doc = contiguous_view(q_doc.data(), ElemType::i32, {B, Sq});
      a.kv_doc = contiguous_view(kv_doc.data(), ElemType::i32, {B, Skv});
    }
    if (s.needs_prefix_lens()) {
      prefix_lens = {1, 2};
      a.prefix_lens = contiguous_view(prefix_lens.data(), ElemType::i32, {B});
    }
    if (s.find_mod<AlibiMod>()) {
      slopes.assign(size_t(s.num_heads), 0.5f);
      a.alibi_slopes = contiguous_view(slopes.data(), ElemType::f32, {s.num_heads});
    }
    if (const CustomMask* cm = s.find_mask<CustomMask>()) {
      const bool additive = cm->format == CustomFormat::additive;
      mask.assign(size_t(B * s.num_heads * Sq * Skv) * (additive ? 4 : 1), additive ? 0 : 1);
      a.mask = contiguous_view(mask.data(), additive ? ElemType::f32 : ElemType::b8, {B, s.num_heads, Sq, Skv});
    }
  }
  // [B, H, S, D] or [B, S, H, D] per layout.
  std::vector<int64_t> shape(int64_t h, int64_t s, int64_t d) const {
    return spec.layout == Layout::bhsd ? std::vector<int64_t>{B, h, s, d} : std::vector<int64_t>{B, s, h, d};
  }
};

// bind_args' message, or "" when it accepts.
inline std::string error_of(const Call& c) {
  try {
    bind_args(c.spec, c.a);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_ERROR(call, ...)                                                        \
  do {                                                                                 \
    const std::string msg_ = error_of(call);                                           \
    EXPECT_FALSE(msg_.empty()) << "accepted, expected an error";                       \
    for (const char* want_ : {__VA_ARGS__})                                            \
      EXPECT_NE(msg_.find(want_), std::string::npos) << "message: " << msg_ << "\nmissing: " << want_; \
  } while (0)

inline const char* kBase = R"({"dtype": "f32", "head_dim": 64, "num_heads": 4, "num_kv_heads": 2})";

}  // namespace attngen::args_test
