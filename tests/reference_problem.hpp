// Small problems for the float64 reference whose answers are derived by
// hand in each test (tests/test_reference_cases.cpp, tests/test_reference_scores.cpp),
// never by re-running the definitions in semantics.hpp.
//
// The main device: Q = 0 makes every allowed score 0, so softmax is uniform
// over the allowed keys, O is the mean of their V rows and LSE = log(#allowed).
// V row j of KV head hk in batch entry b is
//   v[..., 0] = 2^j                       (the sum identifies the allowed set)
//   v[..., 1] = 64 * (b * Hkv + hk) + j   (which KV head / entry was read)
//   v[..., d] = d  for d >= 2
// so each test states the allowed keys of every row as a string such as
// "11110" (key j allowed iff character j is '1') and the helper checks O and
// LSE against the mean of those rows. Rows with no allowed key must give O
// exactly 0 and LSE -inf. Outputs are poisoned with NaN before every run.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "codegen/spec/spec.hpp"
#include "runtime/core/args.hpp"
#include "runtime/core/element.hpp"
#include "runtime/core/tensor.hpp"
#include "runtime/reference/reference.hpp"

namespace attngen::reference_cases {

inline constexpr double kInf = std::numeric_limits<double>::infinity();
inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

inline void put(std::vector<uint8_t>& buf, ElemType t, size_t idx, double x) {
  store_element(t, buf.data() + idx * elem_size(t), x);
}

inline double get(const std::vector<uint8_t>& buf, ElemType t, size_t idx) {
  return load_element(t, buf.data() + idx * elem_size(t));
}

// The value stored for x in `t` (what the kernel actually reads).
inline double stored(ElemType t, double x) {
  std::vector<uint8_t> b(4);
  put(b, t, 0, x);
  return get(b, t, 0);
}

using Fill = std::function<double(int64_t b, int64_t h, int64_t s, int64_t d)>;

inline double default_v(int64_t b, int64_t hk, int64_t j, int64_t d, int hkv) {
  if (d == 0) return std::ldexp(1.0, int(j));
  if (d == 1) return double(64 * (b * hkv + hk) + j);
  return double(d);
}

// One problem: inputs given per logical [B, H, S, D] index whatever the layout.
struct Problem {
  Spec spec;
  int64_t B = 1, Sq = 1, Skv = 1;
  Fill q = [](int64_t, int64_t, int64_t, int64_t) { return 0.0; };
  Fill k = [](int64_t, int64_t, int64_t, int64_t) { return 1.0; };
  Fill v;  // default_v when empty
  // Run-time tensors; empty = not given.
  std::vector<int32_t> q_lens, kv_lens, q_doc, kv_doc, prefix_lens;
  std::vector<float> slopes;
  std::vector<int64_t> slopes_shape;
  std::vector<uint8_t> mask;  // raw bytes in mask_type
  ElemType mask_type = ElemType::b8;
  std::vector<int64_t> mask_shape;
  // NaN in Q rows past q_len and in K/V rows past kv_len.
  bool poison = true;

  explicit Problem(const std::string& json) : spec(parse_spec(json)) {}
};

struct Result {
  Spec spec;
  int64_t B, Sq;
  std::vector<uint8_t> o;
  std::vector<float> lse;

  size_t o_index(int64_t b, int64_t h, int64_t i, int64_t d) const {
    const int64_t H = spec.num_heads, Dv = spec.head_dim_v;
    return size_t(spec.layout == Layout::bhsd ? ((b * H + h) * Sq + i) * Dv + d : ((b * Sq + i) * H + h) * Dv + d);
  }
  double O(int64_t b, int64_t h, int64_t i, int64_t d) const { return get(o, spec.dtype, o_index(b, h, i, d)); }
  uint16_t bits(int64_t b, int64_t h, int64_t i, int64_t d) const {
    uint16_t x;
    std::memcpy(&x, o.data() + o_index(b, h, i, d) * 2, 2);
    return x;
  }
  float L(int64_t b, int64_t h, int64_t i) const { return lse[size_t((b * spec.num_heads + h) * Sq + i)]; }
};

// Buffer of a [B, H, S, D] tensor in the spec's layout.
inline std::vector<uint8_t> make_tensor(const Spec& s, int64_t B, int64_t H, int64_t S, int64_t D,
                                 const std::function<double(int64_t, int64_t, int64_t, int64_t)>& f,
                                 std::vector<int64_t>& shape) {
  shape = s.layout == Layout::bhsd ? std::vector<int64_t>{B, H, S, D} : std::vector<int64_t>{B, S, H, D};
  std::vector<uint8_t> buf(size_t(B * H * S * D) * elem_size(s.dtype));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < S; ++i)
        for (int64_t d = 0; d < D; ++d) {
          const size_t idx = size_t(s.layout == Layout::bhsd ? ((b * H + h) * S + i) * D + d : ((b * S + i) * H + h) * D + d);
          put(buf, s.dtype, idx, f(b, h, i, d));
        }
  return buf;
}

inline Result run(const Problem& p) {
  const Spec& s = p.spec;
  const int hkv = s.num_kv_heads;
  auto q_len = [&](int64_t b) { return p.q_lens.empty() ? p.Sq : p.q_lens[size_t(b)]; };
  auto kv_len = [&](int64_t b) { return p.kv_lens.empty() ? p.Skv : p.kv_lens[size_t(b)]; };
  Fill vf = p.v ? p.v : Fill([hkv](int64_t b, int64_t h, int64_t j, int64_t d) { return default_v(b, h, j, d, hkv); });
  std::vector<int64_t> qs, ks, vs, os;
  auto qb = make_tensor(s, p.B, s.num_heads, p.Sq, s.head_dim,
                        [&](int64_t b, int64_t h, int64_t i, int64_t d) {
                          return p.poison && i >= q_len(b) ? kNaN : p.q(b, h, i, d);
                        },
                        qs);
  auto kb = make_tensor(s, p.B, hkv, p.Skv, s.head_dim,
                        [&](int64_t b, int64_t h, int64_t j, int64_t d) {
                          return p.poison && j >= kv_len(b) ? kNaN : p.k(b, h, j, d);
                        },
                        ks);
  auto vb = make_tensor(s, p.B, hkv, p.Skv, s.head_dim_v,
                        [&](int64_t b, int64_t h, int64_t j, int64_t d) {
                          return p.poison && j >= kv_len(b) ? kNaN : vf(b, h, j, d);
                        },
                        vs);
  Result r{s, p.B, p.Sq, {}, {}};
  r.o = make_tensor(s, p.B, s.num_heads, p.Sq, s.head_dim_v, [](int64_t, int64_t, int64_t, int64_t) { return kNaN; }, os);
  r.lse.assign(size_t(p.B * s.num_heads * p.Sq), std::numeric_limits<float>::quiet_NaN());

  AttentionArgs a;
  a.q = contiguous_view(qb.data(), s.dtype, qs);
  a.k = contiguous_view(kb.data(), s.dtype, ks);
  a.v = contiguous_view(vb.data(), s.dtype, vs);
  a.o = contiguous_view(r.o.data(), s.dtype, os);
  if (s.return_lse) a.lse = contiguous_view(r.lse.data(), ElemType::f32, {p.B, s.num_heads, p.Sq});
  if (!p.q_lens.empty()) a.q_lens = contiguous_view(p.q_lens.data(), ElemType::i32, {p.B});
  if (!p.kv_lens.empty()) a.kv_lens = contiguous_view(p.kv_lens.data(), ElemType::i32, {p.B});
  if (!p.q_doc.empty()) a.q_doc = contiguous_view(p.q_doc.data(), ElemType::i32, {p.B, p.Sq});
  if (!p.kv_doc.empty()) a.kv_doc = contiguous_view(p.kv_doc.data(), ElemType::i32, {p.B, p.Skv});
  if (!p.prefix_lens.empty()) a.prefix_lens = contiguous_view(p.prefix_lens.data(), ElemType::i32, {p.B});
  if (!p.slopes.empty()) a.alibi_slopes = contiguous_view(p.slopes.data(), ElemType::f32, p.slopes_shape);
  if (!p.mask.empty()) a.mask = contiguous_view(p.mask.data(), p.mask_type, p.mask_shape);
  reference_backend().compile(s)->run(a, RunOptions{2});
  return r;
}

// Bytes of a boolean mask from rows of '0'/'1'.
inline std::vector<uint8_t> bool_mask(const std::vector<std::string>& rows) {
  std::vector<uint8_t> m;
  for (const std::string& r : rows)
    for (char c : r) m.push_back(c == '1');
  return m;
}
inline std::vector<uint8_t> f32_bytes(const std::vector<double>& xs) {
  std::vector<uint8_t> m(xs.size() * 4);
  for (size_t i = 0; i < xs.size(); ++i) put(m, ElemType::f32, i, xs[i]);
  return m;
}

// O and LSE of row i of (b, h) with Q = 0 and the default V: the mean of the
// allowed keys' V rows, LSE = log(count); an empty row is exactly 0, LSE -inf.
inline void expect_row(const Result& r, int64_t b, int64_t h, int64_t i, const std::string& allowed) {
  const Spec& s = r.spec;
  const int64_t hk = h / s.group_size();
  int n = 0;
  double sum0 = 0, sumj = 0;
  for (size_t j = 0; j < allowed.size(); ++j)
    if (allowed[j] == '1') ++n, sum0 += std::ldexp(1.0, int(j)), sumj += double(j);
  const std::string where = "b=" + std::to_string(b) + " h=" + std::to_string(h) + " i=" + std::to_string(i) +
                            " allowed=" + allowed;
  for (int64_t d = 0; d < s.head_dim_v; ++d) {
    const double got = r.O(b, h, i, d);
    if (n == 0) {
      EXPECT_EQ(got, 0.0) << where << " d=" << d << ": a fully masked row must be exactly 0";
      continue;
    }
    const double want = d == 0 ? sum0 / n : d == 1 ? double(64 * (b * s.num_kv_heads + hk)) + sumj / n : double(d);
    EXPECT_EQ(got, stored(s.dtype, want)) << where << " d=" << d;
  }
  if (s.return_lse) {
    if (n == 0) EXPECT_EQ(r.L(b, h, i), -kInf) << where;
    else EXPECT_NEAR(r.L(b, h, i), std::log(double(n)), 1e-6) << where;
  }
}

inline void expect_rows(const Result& r, int64_t b, int64_t h, const std::vector<std::string>& rows) {
  ASSERT_EQ(int64_t(rows.size()), r.Sq);
  for (size_t i = 0; i < rows.size(); ++i) expect_row(r, b, h, int64_t(i), rows[i]);
}

inline void expect_all_heads(const Result& r, int64_t b, const std::vector<std::string>& rows) {
  for (int h = 0; h < r.spec.num_heads; ++h) expect_rows(r, b, h, rows);
}

inline std::string spec1(const std::string& masks, const std::string& extra = "") {
  return R"({"dtype": "f32", "head_dim": 2, "num_heads": 1, "return_lse": true, "mask": [)" + masks + "]" + extra +
         "}";
}

// spec1 with hq query heads over hkv KV heads.
inline std::string spec_heads(const std::string& masks, int hq, int hkv) {
  return R"({"dtype": "f32", "head_dim": 2, "num_heads": )" + std::to_string(hq) + R"(, "num_kv_heads": )" +
         std::to_string(hkv) + R"(, "return_lse": true, "mask": [)" + masks + "]}";
}

}  // namespace attngen::reference_cases
