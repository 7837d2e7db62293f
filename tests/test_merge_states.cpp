// attngen_merge_states through the public API (libattngen only): the merge of
// the states of disjoint key ranges equals the kernel over all keys (x86 and
// reference backends), in place and into f16/bf16 outputs; empty states give
// O = 0 and LSE = -inf; NaN propagates; bad arguments return statuses whose
// messages name the tensor.
#include <gtest/gtest.h>

#include "tests/random_data.hpp"

#include <attngen/attngen.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {

namespace ag = attngen::api;
constexpr float kInf = std::numeric_limits<float>::infinity();

using attngen::testing::randn;

// Largest |a - ref| / (1 + |ref|); infinite when one is NaN and the other not.
double max_err(const std::vector<float>& a, const std::vector<float>& ref) {
  double e = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) != std::isnan(ref[i])) return INFINITY;
    if (a[i] == ref[i]) continue;  // equal infinities
    e = std::max(e, std::fabs(double(a[i]) - ref[i]) / (1 + std::fabs(double(ref[i]))));
  }
  return e;
}

// One bhsd f32 problem with return_lse; the kernel runs over key ranges
// [lo, hi) as strided views of the same K and V.
struct Problem {
  static constexpr int64_t B = 2, H = 4, Hkv = 2, Sq = 5, Skv = 37, D = 16;
  std::string backend;  // declared before kernel: its initializer reads it
  ag::Kernel kernel = ag::Kernel::compile(
      R"({"dtype": "f32", "head_dim": 16, "num_heads": 4, "num_kv_heads": 2, "return_lse": true})", backend);
  std::vector<float> q = randn(B * H * Sq * D, 1), k = randn(B * Hkv * Skv * D, 2), v = randn(B * Hkv * Skv * D, 3);

  explicit Problem(std::string b) : backend(std::move(b)) {}
  // O and LSE over keys [lo, hi).
  void run(int64_t lo, int64_t hi, std::vector<float>& o, std::vector<float>& lse) {
    o.assign(B * H * Sq * D, NAN), lse.assign(B * H * Sq, NAN);
    attngen_args a{};
    a.q = ag::tensor(q.data(), ATTNGEN_F32, {B, H, Sq, D});
    const int64_t kv_strides[] = {Hkv * Skv * D, Skv * D, D, 1};
    a.k = ag::tensor(k.data() + lo * D, ATTNGEN_F32, {B, Hkv, hi - lo, D},
                     {kv_strides[0], kv_strides[1], kv_strides[2], kv_strides[3]});
    a.v = ag::tensor(v.data() + lo * D, ATTNGEN_F32, {B, Hkv, hi - lo, D},
                     {kv_strides[0], kv_strides[1], kv_strides[2], kv_strides[3]});
    a.o = ag::tensor(o.data(), ATTNGEN_F32, {B, H, Sq, D});
    a.lse = ag::tensor(lse.data(), ATTNGEN_F32, {B, H, Sq});
    kernel.run(a, 1);
  }
};

attngen_tensor o_view(const std::vector<float>& o) {
  return ag::tensor(o.data(), ATTNGEN_F32, {Problem::B, Problem::H, Problem::Sq, Problem::D});
}
attngen_tensor lse_view(const std::vector<float>& lse) {
  return ag::tensor(lse.data(), ATTNGEN_F32, {Problem::B, Problem::H, Problem::Sq});
}

class MergeBackends : public ::testing::TestWithParam<std::string> {};

TEST_P(MergeBackends, TwoHalvesEqualTheFullKernel) {
  Problem p(GetParam());
  std::vector<float> full_o, full_lse, o1, l1, o2, l2;
  p.run(0, Problem::Skv, full_o, full_lse);
  p.run(0, 16, o1, l1);
  p.run(16, Problem::Skv, o2, l2);
  std::vector<float> o(full_o.size(), NAN), lse(full_lse.size(), NAN);
  const attngen_tensor os[] = {o_view(o1), o_view(o2)}, ls[] = {lse_view(l1), lse_view(l2)};
  const attngen_tensor out = o_view(o), out_lse = lse_view(lse);
  ASSERT_EQ(attngen_merge_states(os, ls, 2, &out, &out_lse), ATTNGEN_OK) << attngen_last_error();
  EXPECT_LE(max_err(o, full_o), 2e-5);
  EXPECT_LE(max_err(lse, full_lse), 2e-5);
  EXPECT_GT(max_err(o1, full_o), 1e-3);  // the halves alone differ: the merge did something
}

TEST_P(MergeBackends, ThreePartsInPlaceIntoTheFirst) {
  Problem p(GetParam());
  std::vector<float> full_o, full_lse, o1, l1, o2, l2, o3, l3;
  p.run(0, Problem::Skv, full_o, full_lse);
  p.run(0, 1, o1, l1);
  p.run(1, 30, o2, l2);
  p.run(30, Problem::Skv, o3, l3);
  const attngen_tensor os[] = {o_view(o1), o_view(o2), o_view(o3)}, ls[] = {lse_view(l1), lse_view(l2), lse_view(l3)};
  ASSERT_EQ(attngen_merge_states(os, ls, 3, &os[0], &ls[0]), ATTNGEN_OK) << attngen_last_error();
  EXPECT_LE(max_err(o1, full_o), 2e-5);
  EXPECT_LE(max_err(l1, full_lse), 2e-5);
}

INSTANTIATE_TEST_SUITE_P(Merge, MergeBackends, ::testing::Values("x86", "reference"));

// A state over rows of 3 values: [2, 3] rows.
struct States {
  std::vector<float> o1 = randn(18, 7), o2 = randn(18, 8), l1 = randn(6, 9), l2 = randn(6, 10);
  std::vector<float> o = std::vector<float>(18, 42.f), lse = std::vector<float>(6, 42.f);
  attngen_status merge() {
    const attngen_tensor os[] = {ag::tensor(o1.data(), ATTNGEN_F32, {2, 3, 3}), ag::tensor(o2.data(), ATTNGEN_F32, {2, 3, 3})};
    const attngen_tensor ls[] = {ag::tensor(l1.data(), ATTNGEN_F32, {2, 3}), ag::tensor(l2.data(), ATTNGEN_F32, {2, 3})};
    const attngen_tensor out = ag::tensor(o.data(), ATTNGEN_F32, {2, 3, 3}), out_lse = ag::tensor(lse.data(), ATTNGEN_F32, {2, 3});
    return attngen_merge_states(os, ls, 2, &out, &out_lse);
  }
};

TEST(MergeStates, EmptyStatesGiveZeroAndMinusInfinity) {
  States s;
  for (float& l : s.l1) l = -kInf;
  for (float& l : s.l2) l = -kInf;
  s.o1[0] = NAN;  // an empty part's O is not read
  ASSERT_EQ(s.merge(), ATTNGEN_OK) << attngen_last_error();
  for (float x : s.o) EXPECT_EQ(x, 0.f);
  for (float l : s.lse) EXPECT_EQ(l, -kInf);
}

TEST(MergeStates, OneEmptyPartLeavesTheOther) {
  States s;
  for (float& l : s.l1) l = -kInf;
  ASSERT_EQ(s.merge(), ATTNGEN_OK) << attngen_last_error();
  EXPECT_EQ(s.o, s.o2);
  EXPECT_EQ(s.lse, s.l2);
}

TEST(MergeStates, MatchesTheFormula) {
  States s;
  ASSERT_EQ(s.merge(), ATTNGEN_OK) << attngen_last_error();
  for (int r = 0; r < 6; ++r) {
    const double m = std::max(s.l1[r], s.l2[r]), w1 = std::exp(s.l1[r] - m), w2 = std::exp(s.l2[r] - m);
    EXPECT_NEAR(s.lse[r], m + std::log(w1 + w2), 1e-6);
    for (int d = 0; d < 3; ++d)
      EXPECT_NEAR(s.o[r * 3 + d], (w1 * s.o1[r * 3 + d] + w2 * s.o2[r * 3 + d]) / (w1 + w2), 1e-6);
  }
}

TEST(MergeStates, NanPropagates) {
  States s;
  s.l1[0] = NAN;        // row 0: NaN LSE
  s.o2[3 * 2 + 1] = NAN;  // row 2, element 1: NaN O in a non-empty part
  s.l1[4] = kInf;       // row 4: +inf LSE is no valid state
  ASSERT_EQ(s.merge(), ATTNGEN_OK) << attngen_last_error();
  for (int d = 0; d < 3; ++d) EXPECT_TRUE(std::isnan(s.o[d]));
  EXPECT_TRUE(std::isnan(s.lse[0]));
  EXPECT_TRUE(std::isnan(s.o[7]));
  EXPECT_FALSE(std::isnan(s.o[6]));
  EXPECT_FALSE(std::isnan(s.lse[2]));
  EXPECT_TRUE(std::isnan(s.o[12]) && std::isnan(s.lse[4]));
  EXPECT_FALSE(std::isnan(s.o[3]) || std::isnan(s.lse[1]));
}

// IEEE half bits to float (normal and subnormal values; no clang 14 _Float16 on x86).
float f16_bits_to_float(uint16_t h) {
  const int exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  const float mag = exp == 0 ? std::ldexp(float(man), -24) : std::ldexp(float(man | 0x400), exp - 25);
  return (h & 0x8000) ? -mag : mag;
}

TEST(MergeStates, HalfOutputsAndStridedInputs) {
  States s;
  ASSERT_EQ(s.merge(), ATTNGEN_OK);
  // Part 1 read through a transposed copy ([3 values, 6 rows] viewed as [2, 3, 3]).
  std::vector<float> o1t(18);
  for (int r = 0; r < 6; ++r)
    for (int d = 0; d < 3; ++d) o1t[d * 6 + r] = s.o1[r * 3 + d];
  for (attngen_dtype dt : {ATTNGEN_F16, ATTNGEN_BF16}) {
    std::vector<uint16_t> out(18);
    const attngen_tensor os[] = {ag::tensor(o1t.data(), ATTNGEN_F32, {2, 3, 3}, {3, 1, 6}),
                                 ag::tensor(s.o2.data(), ATTNGEN_F32, {2, 3, 3})};
    const attngen_tensor ls[] = {ag::tensor(s.l1.data(), ATTNGEN_F32, {2, 3}), ag::tensor(s.l2.data(), ATTNGEN_F32, {2, 3})};
    const attngen_tensor o = ag::tensor(out.data(), dt, {2, 3, 3});
    ASSERT_EQ(attngen_merge_states(os, ls, 2, &o, nullptr), ATTNGEN_OK) << attngen_last_error();
    for (int i = 0; i < 18; ++i) {
      float x;
      if (dt == ATTNGEN_BF16) {
        const uint32_t bits = uint32_t(out[i]) << 16;
        std::memcpy(&x, &bits, 4);
      } else {
        x = f16_bits_to_float(out[i]);
      }
      EXPECT_NEAR(x, s.o[i], (dt == ATTNGEN_BF16 ? 8e-3 : 1e-3) * (1 + std::fabs(s.o[i]))) << i;
    }
  }
}

std::string merge_error(const attngen_tensor* os, const attngen_tensor* ls, int n, const attngen_tensor* o,
                        const attngen_tensor* lse) {
  const attngen_status st = attngen_merge_states(os, ls, n, o, lse);
  if (st == ATTNGEN_OK) return "<ok>";
  EXPECT_EQ(st, ATTNGEN_ERR_INVALID_ARGUMENT);
  return attngen_last_error();
}

TEST(MergeStates, BadArgumentsAreNamed) {
  std::vector<float> a(24), b(24), la(6), lb(6), o(24), lse(6);
  std::vector<int32_t> ints(6);
  attngen_tensor os[] = {ag::tensor(a.data(), ATTNGEN_F32, {2, 3, 4}), ag::tensor(b.data(), ATTNGEN_F32, {2, 3, 4})};
  attngen_tensor ls[] = {ag::tensor(la.data(), ATTNGEN_F32, {2, 3}), ag::tensor(lb.data(), ATTNGEN_F32, {2, 3})};
  attngen_tensor out = ag::tensor(o.data(), ATTNGEN_F32, {2, 3, 4}), out_lse = ag::tensor(lse.data(), ATTNGEN_F32, {2, 3});
  EXPECT_EQ(merge_error(os, ls, 2, &out, &out_lse), "<ok>");
  EXPECT_EQ(merge_error(os, ls, 0, &out, &out_lse), "num_parts: must be >= 1, got 0");
  EXPECT_EQ(merge_error(nullptr, ls, 2, &out, &out_lse), "o_parts: null pointer");
  EXPECT_EQ(merge_error(os, ls, 2, nullptr, &out_lse), "o: null pointer");
  attngen_tensor bad = ag::tensor(b.data(), ATTNGEN_F32, {2, 4, 3});
  attngen_tensor os_bad[] = {os[0], bad};
  EXPECT_EQ(merge_error(os_bad, ls, 2, &out, &out_lse), "o_parts[1]: expected shape [2, 3, 4] (that of o), got [2, 4, 3]");
  attngen_tensor ls_bad[] = {ag::tensor(la.data(), ATTNGEN_F32, {2, 3, 1}), ls[1]};
  EXPECT_EQ(merge_error(os, ls_bad, 2, &out, &out_lse),
            "lse_parts[0]: expected shape [2, 3] (the leading extents of o), got [2, 3, 1]");
  attngen_tensor ls_int[] = {ls[0], ag::tensor(ints.data(), ATTNGEN_I32, {2, 3})};
  EXPECT_EQ(merge_error(os, ls_int, 2, &out, &out_lse), "lse_parts[1]: expected dtype f32, got i32");
  const attngen_tensor out_int = ag::tensor(ints.data(), ATTNGEN_I32, {2, 3});
  EXPECT_EQ(merge_error(os, ls, 2, &out_int, &out_lse), "o: expected dtype f32, f16 or bf16, got i32");
  const attngen_tensor out_1d = ag::tensor(o.data(), ATTNGEN_F32, {24});
  EXPECT_EQ(merge_error(os, ls, 2, &out_1d, &out_lse), "o: expected a rank-2 to rank-4 tensor [..., Dv], got shape [24]");
  const attngen_tensor lse_bad = ag::tensor(lse.data(), ATTNGEN_F32, {3, 2});
  EXPECT_EQ(merge_error(os, ls, 2, &out, &lse_bad), "lse: expected shape [2, 3] (the leading extents of o), got [3, 2]");
  attngen_tensor os_null[] = {os[0], ag::tensor(nullptr, ATTNGEN_F32, {2, 3, 4})};
  EXPECT_EQ(merge_error(os_null, ls, 2, &out, &out_lse), "o_parts[1]: null data pointer");
  attngen_tensor os_absent[] = {os[0], attngen_tensor{}};
  EXPECT_EQ(merge_error(os_absent, ls, 2, &out, &out_lse), "o_parts[1]: required but not given");
}

}  // namespace
