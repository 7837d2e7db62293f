// The float64 reference backend on small problems whose answers are derived by
// hand in each test, never by re-running the definitions in semantics.hpp.
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

namespace attngen {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void put(std::vector<uint8_t>& buf, ElemType t, size_t idx, double x) {
  store_element(t, buf.data() + idx * elem_size(t), x);
}

double get(const std::vector<uint8_t>& buf, ElemType t, size_t idx) {
  return load_element(t, buf.data() + idx * elem_size(t));
}

// The value stored for x in `t` (what the kernel actually reads).
double stored(ElemType t, double x) {
  std::vector<uint8_t> b(4);
  put(b, t, 0, x);
  return get(b, t, 0);
}

using Fill = std::function<double(int64_t b, int64_t h, int64_t s, int64_t d)>;

double default_v(int64_t b, int64_t hk, int64_t j, int64_t d, int hkv) {
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
std::vector<uint8_t> make_tensor(const Spec& s, int64_t B, int64_t H, int64_t S, int64_t D,
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

Result run(const Problem& p) {
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
std::vector<uint8_t> bool_mask(const std::vector<std::string>& rows) {
  std::vector<uint8_t> m;
  for (const std::string& r : rows)
    for (char c : r) m.push_back(c == '1');
  return m;
}
std::vector<uint8_t> f32_bytes(const std::vector<double>& xs) {
  std::vector<uint8_t> m(xs.size() * 4);
  for (size_t i = 0; i < xs.size(); ++i) put(m, ElemType::f32, i, xs[i]);
  return m;
}

// O and LSE of row i of (b, h) with Q = 0 and the default V: the mean of the
// allowed keys' V rows, LSE = log(count); an empty row is exactly 0, LSE -inf.
void expect_row(const Result& r, int64_t b, int64_t h, int64_t i, const std::string& allowed) {
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

void expect_rows(const Result& r, int64_t b, int64_t h, const std::vector<std::string>& rows) {
  ASSERT_EQ(int64_t(rows.size()), r.Sq);
  for (size_t i = 0; i < rows.size(); ++i) expect_row(r, b, h, int64_t(i), rows[i]);
}

void expect_all_heads(const Result& r, int64_t b, const std::vector<std::string>& rows) {
  for (int h = 0; h < r.spec.num_heads; ++h) expect_rows(r, b, h, rows);
}

std::string spec1(const std::string& masks, const std::string& extra = "") {
  return R"({"dtype": "f32", "head_dim": 2, "num_heads": 1, "return_lse": true, "mask": [)" + masks + "]" + extra +
         "}";
}

// ---------------------------------------------------------------- no mask, causal

TEST(ReferenceCases, NoMaskIsUniformOverAllKeys) {
  Problem p(spec1(""));
  p.Sq = 2, p.Skv = 3;
  expect_rows(run(p), 0, 0, {"111", "111"});
}

TEST(ReferenceCases, CausalTopLeft) {
  Problem p(spec1(R"({"type": "causal", "align": "top_left"})"));
  p.Sq = 2, p.Skv = 5;
  expect_rows(run(p), 0, 0, {"10000", "11000"});
  p.Sq = 5, p.Skv = 2;
  expect_rows(run(p), 0, 0, {"10", "11", "11", "11", "11"});
  p.Sq = 3, p.Skv = 3;
  expect_rows(run(p), 0, 0, {"100", "110", "111"});
}

TEST(ReferenceCases, CausalBottomRight) {
  Problem p(spec1(R"({"type": "causal", "align": "bottom_right"})"));
  // FlashAttention's README example: Sq = 2, Skv = 5.
  p.Sq = 2, p.Skv = 5;
  expect_rows(run(p), 0, 0, {"11110", "11111"});
  // Sq > Skv: the first Sq - Skv rows see no key at all.
  p.Sq = 5, p.Skv = 2;
  const Result r = run(p);
  expect_rows(r, 0, 0, {"00", "00", "00", "10", "11"});
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(r.O(0, 0, i, 0), 0.0);
    EXPECT_FALSE(std::signbit(r.O(0, 0, i, 0))) << "expected +0";
    EXPECT_EQ(r.L(0, 0, i), -kInf);
  }
  // Decoding: one query sees every key.
  p.Sq = 1, p.Skv = 4;
  expect_rows(run(p), 0, 0, {"1111"});
}

// ---------------------------------------------------------------- sliding window

TEST(ReferenceCases, SlidingWindowBoundedTopLeft) {
  Problem p(spec1(R"({"type": "sliding_window", "left": 1, "right": 0, "align": "top_left"})"));
  p.Sq = 4, p.Skv = 4;
  expect_rows(run(p), 0, 0, {"1000", "1100", "0110", "0011"});
  // Sq < Skv, top_left: the window stays at the top left.
  p.Sq = 2, p.Skv = 5;
  expect_rows(run(p), 0, 0, {"10000", "11000"});
}

TEST(ReferenceCases, SlidingWindowBothSidesBottomRight) {
  Problem p(spec1(R"({"type": "sliding_window", "left": 1, "right": 1, "align": "bottom_right"})"));
  // i' = i + 3: row 0 sees keys 2..4, row 1 keys 3..5 (clipped to 4).
  p.Sq = 2, p.Skv = 5;
  expect_rows(run(p), 0, 0, {"00111", "00011"});
  // Sq > Skv: i' = i - 2.
  Problem w(spec1(R"({"type": "sliding_window", "left": 0, "right": 0, "align": "bottom_right"})"));
  w.Sq = 4, w.Skv = 2;
  expect_rows(run(w), 0, 0, {"00", "00", "10", "01"});
}

TEST(ReferenceCases, SlidingWindowNullSides) {
  Problem right_only(spec1(R"({"type": "sliding_window", "left": null, "right": 1, "align": "top_left"})"));
  right_only.Sq = 3, right_only.Skv = 4;
  expect_rows(run(right_only), 0, 0, {"1100", "1110", "1111"});
  Problem left_only(spec1(R"({"type": "sliding_window", "left": 1, "right": null, "align": "top_left"})"));
  left_only.Sq = 3, left_only.Skv = 4;
  expect_rows(run(left_only), 0, 0, {"1111", "1111", "0111"});
  Problem left_only_br(spec1(R"({"type": "sliding_window", "left": 0, "right": null, "align": "bottom_right"})"));
  left_only_br.Sq = 2, left_only_br.Skv = 4;  // i' = i + 2
  expect_rows(run(left_only_br), 0, 0, {"0011", "0001"});
  Problem unbounded(spec1(R"({"type": "sliding_window", "left": null, "right": null, "align": "bottom_right"})"));
  unbounded.Sq = 3, unbounded.Skv = 2;
  expect_rows(run(unbounded), 0, 0, {"11", "11", "11"});
  // left 0, right 0: only the diagonal.
  Problem diag(spec1(R"({"type": "sliding_window", "left": 0, "right": 0, "align": "top_left"})"));
  diag.Sq = 3, diag.Skv = 3;
  expect_rows(run(diag), 0, 0, {"100", "010", "001"});
}

// ---------------------------------------------------------------- chunked

TEST(ReferenceCases, ChunkedTopLeft) {
  Problem p(spec1(R"({"type": "chunked", "chunk": 2, "align": "top_left"})"));
  p.Sq = 5, p.Skv = 5;
  expect_rows(run(p), 0, 0, {"10000", "11000", "00100", "00110", "00001"});
  Problem c3(spec1(R"({"type": "chunked", "chunk": 3, "align": "top_left"})"));
  c3.Sq = 4, c3.Skv = 6;
  expect_rows(run(c3), 0, 0, {"100000", "110000", "111000", "000100"});
  Problem c1(spec1(R"({"type": "chunked", "chunk": 1, "align": "top_left"})"));
  c1.Sq = 3, c1.Skv = 3;
  expect_rows(run(c1), 0, 0, {"100", "010", "001"});
}

TEST(ReferenceCases, ChunkedBottomRight) {
  Problem p(spec1(R"({"type": "chunked", "chunk": 2, "align": "bottom_right"})"));
  p.Sq = 2, p.Skv = 5;  // i' = 3, 4
  expect_rows(run(p), 0, 0, {"00110", "00001"});
  // Negative aligned positions: i' = -2, -1, 0. floor(-1 / 2) = -1, not 0.
  p.Sq = 3, p.Skv = 1;
  expect_rows(run(p), 0, 0, {"0", "0", "1"});
  p.Sq = 4, p.Skv = 2;  // i' = -2, -1, 0, 1
  expect_rows(run(p), 0, 0, {"00", "00", "10", "11"});
}

// ---------------------------------------------------------------- prefix_lm

TEST(ReferenceCases, PrefixLmStatic) {
  Problem p(spec1(R"({"type": "prefix_lm", "prefix": 2})"));
  p.Sq = 4, p.Skv = 4;
  expect_rows(run(p), 0, 0, {"1100", "1100", "1110", "1111"});
  // Sq != Skv: prefix_lm compares j with i itself (no alignment).
  p.Sq = 2, p.Skv = 5;
  expect_rows(run(p), 0, 0, {"11000", "11000"});
  Problem zero(spec1(R"({"type": "prefix_lm", "prefix": 0})"));
  zero.Sq = 3, zero.Skv = 3;  // plain causal top_left
  expect_rows(run(zero), 0, 0, {"100", "110", "111"});
  Problem big(spec1(R"({"type": "prefix_lm", "prefix": 10})"));
  big.Sq = 2, big.Skv = 4;  // everything is prefix
  expect_rows(run(big), 0, 0, {"1111", "1111"});
}

TEST(ReferenceCases, PrefixLmRunTime) {
  Problem p(spec1(R"({"type": "prefix_lm"})"));
  p.B = 3, p.Sq = 4, p.Skv = 4;
  p.prefix_lens = {1, 3, 0};
  const Result r = run(p);
  expect_rows(r, 0, 0, {"1000", "1100", "1110", "1111"});
  expect_rows(r, 1, 0, {"1110", "1110", "1110", "1111"});
  expect_rows(r, 2, 0, {"1000", "1100", "1110", "1111"});
}

// ---------------------------------------------------------------- padding

TEST(ReferenceCases, PaddingLengthsAndPoison) {
  Problem p(spec1(R"({"type": "padding"})"));
  p.B = 3, p.Sq = 3, p.Skv = 4;
  p.kv_lens = {2, 0, 4};
  p.q_lens = {3, 2, 1};
  // Non-zero Q inside the lengths would change the weights; Q = 0 keeps them
  // uniform, while NaN past q_len / kv_len (p.poison) must never reach O.
  const Result r = run(p);
  expect_rows(r, 0, 0, {"1100", "1100", "1100"});
  expect_rows(r, 1, 0, {"0000", "0000", "0000"});  // kv_len 0: every row empty
  expect_rows(r, 2, 0, {"1111", "0000", "0000"});  // rows past q_len output 0
}

TEST(ReferenceCases, PaddingRowsPastQLenAreZeroWhateverQHolds) {
  // Finite Q everywhere (no poison): rows i >= q_len still output exactly 0
  // and LSE -inf, although their keys would be allowed.
  Problem p(spec1(R"({"type": "padding"})"));
  p.B = 2, p.Sq = 3, p.Skv = 2;
  p.poison = false;
  p.kv_lens = {2, 1};
  p.q_lens = {1, 2};
  const Result r = run(p);
  expect_rows(r, 0, 0, {"11", "00", "00"});
  expect_rows(r, 1, 0, {"10", "10", "00"});
}

TEST(ReferenceCases, PaddingWithoutQLens) {
  Problem p(spec1(R"({"type": "padding"})"));
  p.B = 2, p.Sq = 2, p.Skv = 3;
  p.kv_lens = {1, 3};
  const Result r = run(p);
  expect_rows(r, 0, 0, {"100", "100"});
  expect_rows(r, 1, 0, {"111", "111"});
}

TEST(ReferenceCases, PaddingZeroQueryLength) {
  Problem p(spec1(R"({"type": "padding"})"));
  p.B = 2, p.Sq = 2, p.Skv = 2;
  p.kv_lens = {2, 2};
  p.q_lens = {0, 2};
  const Result r = run(p);
  expect_rows(r, 0, 0, {"00", "00"});
  expect_rows(r, 1, 0, {"11", "11"});
}

TEST(ReferenceCases, PaddingSetsTheCausalAlignment) {
  // bottom_right aligns with this entry's lengths (q_len 2, kv_len 3), not the
  // tensor extents (4, 5): i' = i + 1.
  Problem p(spec1(R"({"type": "padding"}, {"type": "causal", "align": "bottom_right"})"));
  p.B = 1, p.Sq = 4, p.Skv = 5;
  p.q_lens = {2};
  p.kv_lens = {3};
  expect_rows(run(p), 0, 0, {"11000", "11100", "00000", "00000"});
  // Same with only kv_lens: q length is the extent 4, i' = i - 1.
  p.q_lens.clear();
  expect_rows(run(p), 0, 0, {"00000", "10000", "11000", "11100"});
}

TEST(ReferenceCases, PoisonedQueryPastQLenDoesNotLeakWithNonZeroScores) {
  // Q = 1 inside q_len with K = j: scores differ, NaN rows past q_len are skipped.
  Problem p(R"({"dtype": "f32", "head_dim": 1, "head_dim_v": 2, "num_heads": 1, "scale": 1.0,
                "return_lse": true, "mask": [{"type": "padding"}]})");
  p.B = 1, p.Sq = 3, p.Skv = 3;
  p.q_lens = {1};
  p.kv_lens = {2};
  p.q = [](int64_t, int64_t, int64_t, int64_t) { return 1.0; };
  p.k = [](int64_t, int64_t, int64_t j, int64_t) { return double(j); };
  const Result r = run(p);
  // Row 0: scores 0, 1 over keys 0, 1: weights 1/(1+e), e/(1+e).
  const double e = std::exp(1.0);
  EXPECT_FLOAT_EQ(float(r.O(0, 0, 0, 0)), float((1 + 2 * e) / (1 + e)));
  EXPECT_FLOAT_EQ(float(r.O(0, 0, 0, 1)), float(e / (1 + e)));
  EXPECT_NEAR(r.L(0, 0, 0), std::log(1 + e), 1e-6);
  for (int i = 1; i < 3; ++i) {
    EXPECT_EQ(r.O(0, 0, i, 0), 0.0);
    EXPECT_EQ(r.O(0, 0, i, 1), 0.0);
    EXPECT_EQ(r.L(0, 0, i), -kInf);
  }
}

// ---------------------------------------------------------------- document

TEST(ReferenceCases, Document) {
  Problem p(spec1(R"({"type": "document"})"));
  p.B = 2, p.Sq = 3, p.Skv = 4;
  p.q_doc = {0, 1, 2, /*b1*/ 5, 5, 7};
  p.kv_doc = {0, 0, 1, 1, /*b1*/ 7, 5, 5, 7};
  const Result r = run(p);
  expect_rows(r, 0, 0, {"1100", "0011", "0000"});  // doc 2 has no keys
  expect_rows(r, 1, 0, {"0110", "0110", "1001"});
}

TEST(ReferenceCases, DocumentAndCausal) {
  Problem p(spec1(R"({"type": "document"}, {"type": "causal", "align": "top_left"})"));
  p.B = 1, p.Sq = 4, p.Skv = 4;
  p.q_doc = {0, 0, 1, 1};
  p.kv_doc = {0, 0, 1, 1};
  expect_rows(run(p), 0, 0, {"1000", "1100", "0010", "0011"});
}

// ---------------------------------------------------------------- custom masks

std::string spec_heads(const std::string& masks, int hq, int hkv) {
  return R"({"dtype": "f32", "head_dim": 2, "num_heads": )" + std::to_string(hq) + R"(, "num_kv_heads": )" +
         std::to_string(hkv) + R"(, "return_lse": true, "mask": [)" + masks + "]}";
}

TEST(ReferenceCases, CustomBoolSharedSqSkv) {
  Problem p(spec_heads(R"({"type": "custom", "format": "bool"})", 2, 2));
  p.B = 2, p.Sq = 3, p.Skv = 3;
  const std::vector<std::string> rows = {"101", "000", "011"};
  p.mask = bool_mask(rows);
  p.mask_shape = {3, 3};
  const Result r = run(p);
  for (int b = 0; b < 2; ++b) expect_all_heads(r, b, rows);
}

TEST(ReferenceCases, CustomBoolPerBatch) {
  Problem p(spec_heads(R"({"type": "custom", "format": "bool"})", 2, 1));
  p.B = 2, p.Sq = 2, p.Skv = 3;
  p.mask = bool_mask({"100", "111", /*b1*/ "011", "001"});
  p.mask_shape = {2, 1, 2, 3};
  const Result r = run(p);
  expect_all_heads(r, 0, {"100", "111"});
  expect_all_heads(r, 1, {"011", "001"});
}

TEST(ReferenceCases, CustomBoolFullU8AndKeyVector) {
  // A full [B,Hq,Sq,Skv] u8 mask: any nonzero byte keeps.
  Problem p(spec_heads(R"({"type": "custom", "format": "bool"})", 2, 2));
  p.B = 1, p.Sq = 2, p.Skv = 2;
  p.mask = {7, 0, 1, 1, /*h1*/ 0, 0, 0, 255};
  p.mask_type = ElemType::u8;
  p.mask_shape = {1, 2, 2, 2};
  const Result r = run(p);
  expect_rows(r, 0, 0, {"10", "11"});
  expect_rows(r, 0, 1, {"00", "01"});
  // A rank-1 [Skv] mask broadcasts over B, Hq and Sq.
  Problem k(spec_heads(R"({"type": "custom", "format": "bool"})", 1, 1));
  k.B = 2, k.Sq = 2, k.Skv = 3;
  k.mask = bool_mask({"110"});
  k.mask_shape = {3};
  const Result rk = run(k);
  expect_rows(rk, 0, 0, {"110", "110"});
  expect_rows(rk, 1, 0, {"110", "110"});
}

TEST(ReferenceCases, CustomAdditiveMinusInfIsAMask) {
  Problem p(spec1(R"({"type": "custom", "format": "additive"})"));
  p.Sq = 3, p.Skv = 3;
  p.mask = f32_bytes({0, -kInf, 0, /**/ -kInf, -kInf, -kInf, /**/ -kInf, 0, 0});
  p.mask_type = ElemType::f32;
  p.mask_shape = {3, 3};
  const Result r = run(p);
  // Row 1 is fully masked by the additive mask alone.
  expect_rows(r, 0, 0, {"101", "000", "011"});
}

TEST(ReferenceCases, CustomAdditiveFiniteBias) {
  // Q = 0: scores are the biases. Row 0: [0, log 3] -> weights 1/4, 3/4.
  // Row 1: [log 2, log 2, 0] -> weights 2/5, 2/5, 1/5; LSE = log 5.
  Problem p(spec1(R"({"type": "custom", "format": "additive"})"));
  p.B = 1, p.Sq = 2, p.Skv = 3;
  p.mask = f32_bytes({0, std::log(3.0), -kInf, std::log(2.0), std::log(2.0), 0});
  p.mask_type = ElemType::f32;
  p.mask_shape = {1, 1, 2, 3};
  p.v = [](int64_t, int64_t, int64_t j, int64_t d) { return d == 0 ? double(j) : double(10 * j + 1); };
  const Result r = run(p);
  const double l3 = double(float(std::log(3.0))), l2 = double(float(std::log(2.0)));
  const double w0 = 1 / (1 + std::exp(l3)), w1 = std::exp(l3) / (1 + std::exp(l3));
  EXPECT_NEAR(w1, 0.75, 1e-7);
  EXPECT_FLOAT_EQ(float(r.O(0, 0, 0, 0)), float(w1 * 1));
  EXPECT_FLOAT_EQ(float(r.O(0, 0, 0, 1)), float(w0 * 1 + w1 * 11));
  EXPECT_NEAR(r.L(0, 0, 0), std::log(4.0), 1e-6);
  const double s = 2 * std::exp(l2) + 1;
  EXPECT_FLOAT_EQ(float(r.O(0, 0, 1, 0)), float((std::exp(l2) * 1 + 1 * 2) / s));
  EXPECT_NEAR(r.O(0, 0, 1, 0), 0.4 + 0.4, 1e-6);
  EXPECT_NEAR(r.O(0, 0, 1, 1), 0.4 * 1 + 0.4 * 11 + 0.2 * 21, 1e-5);
  EXPECT_NEAR(r.L(0, 0, 1), std::log(5.0), 1e-6);
}

TEST(ReferenceCases, CustomAdditiveAllMinusInfRowIsEmpty) {
  Problem p(spec1(R"({"type": "custom", "format": "additive"})"));
  p.B = 2, p.Sq = 2, p.Skv = 2;
  p.mask = f32_bytes({-kInf, -kInf, 0, 0});
  p.mask_type = ElemType::f32;
  p.mask_shape = {2, 2};
  const Result r = run(p);
  for (int b = 0; b < 2; ++b) expect_rows(r, b, 0, {"00", "11"});
}

TEST(ReferenceCases, CustomAdditiveInSpecDtype) {
  // An additive mask may also be stored in the spec's dtype (f16 here).
  Problem p(R"({"dtype": "f16", "head_dim": 2, "num_heads": 1, "return_lse": true,
                "mask": [{"type": "custom", "format": "additive"}]})");
  p.Sq = 1, p.Skv = 2;
  p.mask.resize(4);
  put(p.mask, ElemType::f16, 0, -kInf);
  put(p.mask, ElemType::f16, 1, 0.0);
  p.mask_type = ElemType::f16;
  p.mask_shape = {1, 2};
  expect_rows(run(p), 0, 0, {"01"});
}

// ---------------------------------------------------------------- score mods

TEST(ReferenceCases, SoftcapClosedForm) {
  // D = 1, scale 0.5, q = 2, k = [1, 3, 5]: raw scores 1, 3, 5; cap 2:
  // s_j = 2 tanh(raw_j / 2), applied after the scale.
  Problem p(R"({"dtype": "f32", "head_dim": 1, "head_dim_v": 1, "num_heads": 1, "scale": 0.5,
                "return_lse": true, "score_mod": [{"type": "softcap", "cap": 2.0}]})");
  p.Sq = 1, p.Skv = 3;
  p.q = [](int64_t, int64_t, int64_t, int64_t) { return 2.0; };
  p.k = [](int64_t, int64_t, int64_t j, int64_t) { return double(2 * j + 1); };
  p.v = [](int64_t, int64_t, int64_t j, int64_t) { return double(j); };
  const Result r = run(p);
  double e[3], sum = 0;
  for (int j = 0; j < 3; ++j) sum += e[j] = std::exp(2 * std::tanh((2 * j + 1) / 2.0));
  EXPECT_FLOAT_EQ(float(r.O(0, 0, 0, 0)), float((e[1] + 2 * e[2]) / sum));
  EXPECT_NEAR(r.L(0, 0, 0), std::log(sum), 1e-6);
  // Without the cap the answer would be much closer to key 2.
  double sum_raw = std::exp(1.0) + std::exp(3.0) + std::exp(5.0);
  EXPECT_GT(std::fabs(r.O(0, 0, 0, 0) - (std::exp(3.0) + 2 * std::exp(5.0)) / sum_raw), 0.1);
}

TEST(ReferenceCases, SoftcapComesBeforeMasks) {
  // Softcap of a huge score is still finite and causal still masks.
  Problem p(R"({"dtype": "f32", "head_dim": 1, "head_dim_v": 2, "num_heads": 1, "scale": 1.0,
                "return_lse": true, "score_mod": [{"type": "softcap", "cap": 1.0}],
                "mask": [{"type": "causal", "align": "top_left"}]})");
  p.Sq = 2, p.Skv = 2;
  p.q = [](int64_t, int64_t, int64_t, int64_t) { return 1e4; };
  p.k = [](int64_t, int64_t, int64_t j, int64_t) { return j == 0 ? 1.0 : -1.0; };
  const Result r = run(p);
  // Row 0: only key 0, score tanh(1e4) = 1: LSE = 1.
  EXPECT_EQ(r.O(0, 0, 0, 0), 1.0);
  EXPECT_NEAR(r.L(0, 0, 0), 1.0, 1e-6);
  // Row 1: scores +1, -1: weights e/(e+1/e), (1/e)/(e+1/e).
  const double e = std::exp(1.0), s = e + 1 / e;
  EXPECT_FLOAT_EQ(float(r.O(0, 0, 1, 0)), float((e * 1 + 2 / e) / s));
  EXPECT_NEAR(r.L(0, 0, 1), std::log(s), 1e-6);
}

TEST(ReferenceCases, SoftcapComesBeforeAlibiAndAdditiveMask) {
  // Q = 0: the capped score is 0, then ALiBi and the bias add uncapped.
  // Sq = 1, Skv = 2, slope 4: ALiBi [-4, 0]; bias [0, log 3]; cap 1.
  // Capping after the additions would give tanh(-4) and tanh(log 3) instead.
  Problem p(R"({"dtype": "f32", "head_dim": 2, "head_dim_v": 1, "num_heads": 1, "return_lse": true,
                "mask": [{"type": "custom", "format": "additive"}],
                "score_mod": [{"type": "alibi"}, {"type": "softcap", "cap": 1.0}]})");
  p.Sq = 1, p.Skv = 2;
  p.slopes = {4.0f};
  p.slopes_shape = {1};
  const double l3 = double(float(std::log(3.0)));
  p.mask = f32_bytes({0, l3});
  p.mask_type = ElemType::f32;
  p.mask_shape = {2};
  p.v = [](int64_t, int64_t, int64_t j, int64_t) { return double(j); };
  const Result r = run(p);
  const double w0 = std::exp(-4.0), w1 = std::exp(l3);
  EXPECT_FLOAT_EQ(float(r.O(0, 0, 0, 0)), float(w1 / (w0 + w1)));
  EXPECT_NEAR(r.L(0, 0, 0), std::log(w0 + w1), 1e-6);
}

TEST(ReferenceCases, AlibiPerHeadSlopes) {
  // Q = 0: s_j = -slope[h] * |i + Skv - Sq - j|. Sq = 1, Skv = 3: distances
  // 2, 1, 0. Slopes [1, 0.5] for heads 0, 1.
  Problem p(R"({"dtype": "f32", "head_dim": 2, "head_dim_v": 1, "num_heads": 2, "return_lse": true,
                "score_mod": [{"type": "alibi"}]})");
  p.Sq = 1, p.Skv = 3;
  p.slopes = {1.0f, 0.5f};
  p.slopes_shape = {2};
  p.v = [](int64_t, int64_t, int64_t j, int64_t) { return double(j); };
  const Result r = run(p);
  for (int h = 0; h < 2; ++h) {
    const double m = p.slopes[size_t(h)];
    const double w[3] = {std::exp(-2 * m), std::exp(-m), 1.0};
    const double sum = w[0] + w[1] + w[2];
    EXPECT_FLOAT_EQ(float(r.O(0, h, 0, 0)), float((w[1] + 2 * w[2]) / sum)) << "h=" << h;
    EXPECT_NEAR(r.L(0, h, 0), std::log(sum), 1e-6) << "h=" << h;
  }
}

TEST(ReferenceCases, AlibiPerBatchSlopesAndSqGreaterThanSkv) {
  // One key: the weight is 1 whatever the bias, so LSE is the bias itself:
  // -slope * |i + 1 - 3 - 0| = -slope * (2 - i).
  Problem p(R"({"dtype": "f32", "head_dim": 2, "num_heads": 2, "return_lse": true,
                "score_mod": [{"type": "alibi"}]})");
  p.B = 2, p.Sq = 3, p.Skv = 1;
  p.slopes = {1.0f, 2.0f, /*b1*/ 0.25f, 4.0f};
  p.slopes_shape = {2, 2};
  const Result r = run(p);
  for (int b = 0; b < 2; ++b)
    for (int h = 0; h < 2; ++h)
      for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(r.O(b, h, i, 0), 1.0);
        EXPECT_NEAR(r.L(b, h, i), -double(p.slopes[size_t(b * 2 + h)]) * (2 - i), 1e-6)
            << "b=" << b << " h=" << h << " i=" << i;
      }
}

TEST(ReferenceCases, AlibiUsesPaddingLengths) {
  // With padding, Sq and Skv in the distance are the entry's lengths:
  // q_len 1, kv_len 2 -> distance |0 + 2 - 1 - j| = 1, 0 (the extents 3, 5
  // would give 2, 1).
  Problem p(R"({"dtype": "f32", "head_dim": 2, "head_dim_v": 1, "num_heads": 1, "return_lse": true,
                "mask": [{"type": "padding"}], "score_mod": [{"type": "alibi"}]})");
  p.B = 1, p.Sq = 3, p.Skv = 5;
  p.q_lens = {1};
  p.kv_lens = {2};
  p.slopes = {1.0f};
  p.slopes_shape = {1};
  p.v = [](int64_t, int64_t, int64_t j, int64_t) { return double(j); };
  const Result r = run(p);
  const double e = std::exp(-1.0);
  EXPECT_FLOAT_EQ(float(r.O(0, 0, 0, 0)), float(1 / (1 + e)));
  EXPECT_NEAR(r.L(0, 0, 0), std::log(1 + e), 1e-6);
  EXPECT_EQ(r.O(0, 0, 1, 0), 0.0);
  EXPECT_EQ(r.L(0, 0, 2), -kInf);
}

TEST(ReferenceCases, AlibiThenAdditiveMask) {
  // Both add: Q = 0, slope 1, Sq = Skv = 2, row 1 distances 1, 0; bias
  // [1, 0] cancels the ALiBi term for key 0 -> uniform.
  Problem p(R"({"dtype": "f32", "head_dim": 2, "num_heads": 1, "return_lse": true,
                "mask": [{"type": "custom", "format": "additive"}], "score_mod": [{"type": "alibi"}]})");
  p.Sq = 2, p.Skv = 2;
  p.slopes = {1.0f};
  p.slopes_shape = {1};
  p.mask = f32_bytes({0, -kInf, 1, 0});
  p.mask_type = ElemType::f32;
  p.mask_shape = {2, 2};
  const Result r = run(p);
  expect_rows(r, 0, 0, {"10", "11"});
}

// ---------------------------------------------------------------- heads, layout, dims

TEST(ReferenceCases, GroupedQueryHeadsReadTheirKvHead) {
  Problem p(spec_heads(R"({"type": "causal", "align": "bottom_right"})", 4, 2));
  p.B = 2, p.Sq = 2, p.Skv = 3;
  const Result r = run(p);
  // expect_row checks v[...,1] = 64 * (b * Hkv + h / 2) + mean j.
  for (int b = 0; b < 2; ++b) expect_all_heads(r, b, {"110", "111"});
  EXPECT_EQ(r.O(0, 0, 1, 1), 1.0);
  EXPECT_EQ(r.O(0, 1, 1, 1), 1.0);
  EXPECT_EQ(r.O(0, 2, 1, 1), 65.0);
  EXPECT_EQ(r.O(0, 3, 1, 1), 65.0);
  EXPECT_EQ(r.O(1, 0, 1, 1), 129.0);
  EXPECT_EQ(r.O(1, 3, 1, 1), 193.0);
}

TEST(ReferenceCases, GroupedQueryHeadsWithDistinctQueries) {
  // Query heads of one group differ; each must use its own Q with the shared K.
  Problem p(R"({"dtype": "f32", "head_dim": 1, "head_dim_v": 1, "num_heads": 4, "num_kv_heads": 2,
                "scale": 1.0, "return_lse": true})");
  p.Sq = 1, p.Skv = 2;
  p.q = [](int64_t, int64_t h, int64_t, int64_t) { return double(h); };
  p.k = [](int64_t, int64_t hk, int64_t j, int64_t) { return j == 0 ? 0.0 : double(hk + 1); };
  p.v = [](int64_t, int64_t, int64_t j, int64_t) { return double(j); };
  const Result r = run(p);
  for (int h = 0; h < 4; ++h) {
    const double s1 = double(h) * (h / 2 + 1);  // score of key 1; key 0 scores 0
    EXPECT_FLOAT_EQ(float(r.O(0, h, 0, 0)), float(std::exp(s1) / (1 + std::exp(s1)))) << "h=" << h;
    EXPECT_NEAR(r.L(0, h, 0), std::log(1 + std::exp(s1)), 1e-6) << "h=" << h;
  }
}

TEST(ReferenceCases, BshdAndBhsdGiveTheSameNumbers) {
  const std::string body = R"("head_dim": 3, "head_dim_v": 5, "num_heads": 4, "num_kv_heads": 2, "return_lse": true,
      "mask": [{"type": "causal", "align": "bottom_right"}]})";
  for (const char* dtype : {"f32", "f16", "bf16"}) {
    Problem a(std::string(R"({"dtype": ")") + dtype + R"(", "layout": "bhsd", )" + body);
    Problem b(std::string(R"({"dtype": ")") + dtype + R"(", "layout": "bshd", )" + body);
    for (Problem* p : {&a, &b}) {
      p->B = 2, p->Sq = 3, p->Skv = 4;
      p->q = [](int64_t b_, int64_t h, int64_t i, int64_t d) { return std::sin(1.0 + b_ + 2.0 * h + 3.0 * i + 5.0 * d); };
      p->k = [](int64_t b_, int64_t h, int64_t j, int64_t d) { return std::cos(0.5 + b_ + 2.0 * h + 1.3 * j + 0.7 * d); };
      p->v = [](int64_t b_, int64_t h, int64_t j, int64_t d) { return std::sin(0.3 * b_ + h - 0.9 * j + 0.4 * d); };
    }
    const Result ra = run(a), rb = run(b);
    for (int64_t bb = 0; bb < 2; ++bb)
      for (int h = 0; h < 4; ++h)
        for (int i = 0; i < 3; ++i) {
          for (int d = 0; d < 5; ++d) {
            EXPECT_EQ(ra.O(bb, h, i, d), rb.O(bb, h, i, d)) << dtype << " b=" << bb << " h=" << h << " i=" << i;
            EXPECT_TRUE(std::isfinite(ra.O(bb, h, i, d)));
          }
          EXPECT_EQ(ra.L(bb, h, i), rb.L(bb, h, i));
        }
    // And bshd really stores [B, Sq, Hq, Dv]: element (b=1, h=2, i=1, d=3).
    EXPECT_EQ(rb.o_index(1, 2, 1, 3), size_t(((1 * 3 + 1) * 4 + 2) * 5 + 3));
  }
}

TEST(ReferenceCases, HeadDimVDiffersFromHeadDim) {
  // D = 2, scale 1, q = [1, 2], k0 = [1, 0], k1 = [0, 1]: scores 1, 2.
  // Dv = 3, v_j = [j, 1 - j, 7].
  Problem p(R"({"dtype": "f32", "head_dim": 2, "head_dim_v": 3, "num_heads": 1, "scale": 1.0,
                "return_lse": true})");
  p.Sq = 1, p.Skv = 2;
  p.q = [](int64_t, int64_t, int64_t, int64_t d) { return double(d + 1); };
  p.k = [](int64_t, int64_t, int64_t j, int64_t d) { return j == d ? 1.0 : 0.0; };
  p.v = [](int64_t, int64_t, int64_t j, int64_t d) { return d == 0 ? double(j) : d == 1 ? double(1 - j) : 7.0; };
  const Result r = run(p);
  const double e1 = std::exp(1.0), e2 = std::exp(2.0), s = e1 + e2;
  EXPECT_FLOAT_EQ(float(r.O(0, 0, 0, 0)), float(e2 / s));
  EXPECT_FLOAT_EQ(float(r.O(0, 0, 0, 1)), float(e1 / s));
  EXPECT_FLOAT_EQ(float(r.O(0, 0, 0, 2)), 7.0f);
  EXPECT_NEAR(r.L(0, 0, 0), std::log(s), 1e-6);
}

TEST(ReferenceCases, ReturnLseValuesAndAbsence) {
  // Scores s_j = j (scale 1, q = 1, k = j): LSE = log(sum e^j).
  const std::string body = R"("dtype": "f32", "head_dim": 1, "head_dim_v": 1, "num_heads": 1, "scale": 1.0)";
  Problem with("{" + body + R"(, "return_lse": true})");
  Problem without("{" + body + "}");
  for (Problem* p : {&with, &without}) {
    p->Sq = 1, p->Skv = 4;
    p->q = [](int64_t, int64_t, int64_t, int64_t) { return 1.0; };
    p->k = [](int64_t, int64_t, int64_t j, int64_t) { return double(j); };
    p->v = [](int64_t, int64_t, int64_t j, int64_t) { return double(j); };
  }
  const Result a = run(with), b = run(without);
  double sum = 0, num = 0;
  for (int j = 0; j < 4; ++j) sum += std::exp(double(j)), num += j * std::exp(double(j));
  EXPECT_NEAR(a.L(0, 0, 0), std::log(sum), 1e-6);
  EXPECT_FLOAT_EQ(float(a.O(0, 0, 0, 0)), float(num / sum));
  EXPECT_EQ(a.O(0, 0, 0, 0), b.O(0, 0, 0, 0));
  EXPECT_TRUE(std::isnan(b.L(0, 0, 0))) << "no LSE is written without return_lse";
}

TEST(ReferenceCases, LargeScoresDoNotOverflow) {
  // Scores 1000 and 1001: softmax must subtract the max. LSE = 1001 + log(1 + 1/e).
  Problem p(R"({"dtype": "f32", "head_dim": 1, "head_dim_v": 1, "num_heads": 1, "scale": 1.0,
                "return_lse": true})");
  p.Sq = 1, p.Skv = 2;
  p.q = [](int64_t, int64_t, int64_t, int64_t) { return 1.0; };
  p.k = [](int64_t, int64_t, int64_t j, int64_t) { return 1000.0 + double(j); };
  p.v = [](int64_t, int64_t, int64_t j, int64_t) { return double(j); };
  const Result r = run(p);
  const double e = std::exp(1.0);
  EXPECT_FLOAT_EQ(float(r.O(0, 0, 0, 0)), float(e / (1 + e)));
  EXPECT_NEAR(r.L(0, 0, 0), 1001 + std::log(1 + 1 / e), 1e-3);
}

// ---------------------------------------------------------------- scale

TEST(ReferenceCases, ExplicitScale) {
  // scale = 2, q = 1, k = [0, 1/2 log 3 (stored as f32)]: s = [0, ~log 3].
  Problem p(R"({"dtype": "f32", "head_dim": 1, "head_dim_v": 1, "num_heads": 1, "scale": 2.0,
                "return_lse": true})");
  p.Sq = 1, p.Skv = 2;
  const double k1 = double(float(std::log(3.0) / 2));
  p.q = [](int64_t, int64_t, int64_t, int64_t) { return 1.0; };
  p.k = [k1](int64_t, int64_t, int64_t j, int64_t) { return j == 0 ? 0.0 : k1; };
  p.v = [](int64_t, int64_t, int64_t j, int64_t) { return double(j); };
  const Result r = run(p);
  const double w1 = std::exp(2 * k1) / (1 + std::exp(2 * k1));
  EXPECT_FLOAT_EQ(float(r.O(0, 0, 0, 0)), float(w1));
  EXPECT_NEAR(r.O(0, 0, 0, 0), 0.75, 1e-6);
  EXPECT_NEAR(r.L(0, 0, 0), std::log(4.0), 1e-6);
}

TEST(ReferenceCases, DefaultScaleIsInverseSqrtHeadDim) {
  // D = 4, default scale 1/2, q = [1,1,1,1], k1 = [c,c,c,c]: s1 = 2c.
  Problem p(R"({"dtype": "f32", "head_dim": 4, "head_dim_v": 1, "num_heads": 1, "return_lse": true})");
  EXPECT_EQ(p.spec.scale, 0.5);
  p.Sq = 1, p.Skv = 2;
  const double c = 0.75;
  p.q = [](int64_t, int64_t, int64_t, int64_t) { return 1.0; };
  p.k = [c](int64_t, int64_t, int64_t j, int64_t) { return j == 0 ? 0.0 : c; };
  p.v = [](int64_t, int64_t, int64_t j, int64_t) { return double(j); };
  const Result r = run(p);
  const double e = std::exp(2 * c);
  EXPECT_FLOAT_EQ(float(r.O(0, 0, 0, 0)), float(e / (1 + e)));
  EXPECT_NEAR(r.L(0, 0, 0), std::log(1 + e), 1e-6);
}

// ---------------------------------------------------------------- storage dtypes

// Three keys, Q = 0: O is the mean of the V rows. d = 0: V = 1, 0, 0 -> 1/3,
// rounded to the dtype. d = 1: V = 1, 1 + u, 1 + 2u (u = one ulp at 1) -> 1 + u
// exactly. d = 2: V = 3.
Result one_third(const char* dtype) {
  Problem p(std::string(R"({"dtype": ")") + dtype + R"(", "head_dim": 2, "head_dim_v": 3, "num_heads": 1,
                "return_lse": true})");
  p.Sq = 1, p.Skv = 3;
  const double u = std::string(dtype) == "f16" ? std::ldexp(1.0, -10) : std::ldexp(1.0, -7);
  p.v = [u](int64_t, int64_t, int64_t j, int64_t d) {
    if (d == 0) return j == 0 ? 1.0 : 0.0;
    if (d == 1) return 1.0 + double(j) * u;
    return 3.0;
  };
  return run(p);
}

TEST(ReferenceCases, F16OutputRoundsToNearestEven) {
  const Result r = one_third("f16");
  EXPECT_EQ(r.bits(0, 0, 0, 0), 0x3555) << "f16(1/3)";
  EXPECT_EQ(r.bits(0, 0, 0, 1), 0x3C01) << "1 + 2^-10";
  EXPECT_EQ(r.bits(0, 0, 0, 2), 0x4200) << "3";
  EXPECT_NEAR(r.L(0, 0, 0), std::log(3.0), 1e-6);
}

TEST(ReferenceCases, Bf16OutputRoundsToNearestEven) {
  const Result r = one_third("bf16");
  // 1/3 = 0x3EAAAAAB as f32: truncation would give 0x3EAA, RNE gives 0x3EAB.
  EXPECT_EQ(r.bits(0, 0, 0, 0), 0x3EAB) << "bf16(1/3)";
  EXPECT_EQ(r.bits(0, 0, 0, 1), 0x3F81) << "1 + 2^-7";
  EXPECT_EQ(r.bits(0, 0, 0, 2), 0x4040) << "3";
}

// O exactly halfway between two representable values: ties go to the even one.
void expect_ties(const char* dtype, double u, uint16_t tie_down, uint16_t tie_up) {
  Problem p(std::string(R"({"dtype": ")") + dtype + R"(", "head_dim": 2, "head_dim_v": 2, "num_heads": 1})");
  p.Sq = 1, p.Skv = 2;
  // d = 0: mean(1, 1 + u) = 1 + u/2 -> 1 (even); d = 1: mean(1 + u, 1 + 2u) =
  // 1 + 3u/2 -> 1 + 2u (even), where truncation would give 1 + u.
  p.v = [u](int64_t, int64_t, int64_t j, int64_t d) { return 1.0 + double(j + d) * u; };
  const Result r = run(p);
  EXPECT_EQ(r.bits(0, 0, 0, 0), tie_down) << dtype;
  EXPECT_EQ(r.bits(0, 0, 0, 1), tie_up) << dtype;
}

TEST(ReferenceCases, F16AndBf16TiesToEven) {
  expect_ties("f16", std::ldexp(1.0, -10), 0x3C00, 0x3C02);
  expect_ties("bf16", std::ldexp(1.0, -7), 0x3F80, 0x3F82);
}

TEST(ReferenceCases, F16InputsAreReadExactly) {
  // One key: O is V itself, so f16 values pass through unchanged (read exactly,
  // stored exactly), subnormals and the largest finite value included.
  Problem p(R"({"dtype": "f16", "head_dim": 1, "head_dim_v": 4, "num_heads": 1})");
  p.Sq = 1, p.Skv = 1;
  const double vals[4] = {1 + std::ldexp(1.0, -10), 65504.0, std::ldexp(1.0, -24), -0.0009765625};
  p.v = [&vals](int64_t, int64_t, int64_t, int64_t d) { return vals[d]; };
  const Result r = run(p);
  for (int d = 0; d < 4; ++d) EXPECT_EQ(r.O(0, 0, 0, d), vals[d]) << d;
  EXPECT_EQ(r.bits(0, 0, 0, 1), 0x7BFF);
  EXPECT_EQ(r.bits(0, 0, 0, 2), 0x0001);
}

TEST(ReferenceCases, HalfPrecisionFullyMaskedRowsAreZero) {
  for (const char* dtype : {"f16", "bf16"}) {
    Problem p(std::string(R"({"dtype": ")") + dtype + R"(", "head_dim": 2, "num_heads": 1, "return_lse": true,
                  "mask": [{"type": "causal", "align": "bottom_right"}]})");
    p.Sq = 3, p.Skv = 1;
    const Result r = run(p);
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(r.bits(0, 0, i, 0), 0) << dtype;
      EXPECT_EQ(r.bits(0, 0, i, 1), 0) << dtype;
      EXPECT_EQ(r.L(0, 0, i), -kInf) << dtype;
    }
    expect_row(r, 0, 0, 2, "1");
  }
}

// ---------------------------------------------------------------- combinations

TEST(ReferenceCases, CausalSlidingWindowPaddingAndCustomTogether) {
  // Padding kv_len 4, q_len 3 (extents 3, 5); causal bottom_right i' = i + 1;
  // window left 1; custom bool drops key 1 everywhere.
  Problem p(spec1(R"({"type": "padding"}, {"type": "causal", "align": "bottom_right"},
                     {"type": "sliding_window", "left": 1, "right": null, "align": "bottom_right"},
                     {"type": "custom", "format": "bool"})"));
  p.B = 1, p.Sq = 3, p.Skv = 5;
  p.kv_lens = {4};
  p.q_lens = {3};
  p.mask = bool_mask({"10111"});
  p.mask_shape = {5};
  // Rows: i'=1: keys 0..1 minus key 1 -> 10000; i'=2: keys 1..2 -> 00100;
  // i'=3: keys 2..3 -> 00110.
  expect_rows(run(p), 0, 0, {"10000", "00100", "00110"});
}

}  // namespace
}  // namespace attngen
