// The float64 reference backend: score mods, heads, layouts, head dims, LSE,
// scale, storage dtypes and combinations, on small problems whose answers are
// derived by hand (tests/reference_problem.hpp says how).

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "tests/reference_problem.hpp"

namespace attngen {
namespace {

using namespace reference_cases;

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
