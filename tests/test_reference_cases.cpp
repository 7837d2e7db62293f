// The float64 reference backend, mask by mask, on small problems whose answers
// are derived by hand (tests/reference_problem.hpp says how).

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "tests/reference_problem.hpp"

namespace attngen {
namespace {

using namespace reference_cases;

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

}  // namespace
}  // namespace attngen
