// NaN, Inf and f32 overflow in what a row reads give NaN in that row on every
// backend, never the signature of a fully masked row (O = 0, LSE = -inf);
// masked keys are not read, so their NaN does not reach the row; an additive
// mask holding +inf or NaN is an error naming the element (docs/spec.md).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "runtime/core/backend.hpp"
#include "runtime/core/error.hpp"
#include "runtime/reference/reference.hpp"
#include "runtime/llvm/llvm_backend.hpp"
#include "runtime/x86/x86_backend.hpp"

namespace attngen {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// One f32 problem [1, H, S, D] with GQA, small random-ish values.
struct Problem {
  int64_t hq = 4, hkv = 1, sq, skv, d = 16;
  std::vector<float> q, k, v, o, lse;
  Problem(int64_t sq_, int64_t skv_) : sq(sq_), skv(skv_) {
    q.resize(size_t(hq * sq * d)), k.resize(size_t(hkv * skv * d)), v.resize(size_t(hkv * skv * d));
    for (size_t i = 0; i < q.size(); ++i) q[i] = float((i * 37) % 11) * 0.1f - 0.5f;
    for (size_t i = 0; i < k.size(); ++i) k[i] = float((i * 17) % 13) * 0.1f - 0.6f;
    for (size_t i = 0; i < v.size(); ++i) v[i] = float((i * 29) % 7) * 0.2f - 0.6f;
    o.assign(size_t(hq * sq * d), -7.f), lse.assign(size_t(hq * sq), -7.f);
  }
  float& kat(int64_t j, int64_t c) { return k[size_t(j * d + c)]; }
  float& qat(int64_t h, int64_t i, int64_t c) { return q[size_t((h * sq + i) * d + c)]; }
  float oat(int64_t h, int64_t i, int64_t c) const { return o[size_t((h * sq + i) * d + c)]; }
  float lseat(int64_t h, int64_t i) const { return lse[size_t(h * sq + i)]; }
  AttentionArgs args() {
    AttentionArgs a;
    a.q = contiguous_view(q.data(), ElemType::f32, {1, hq, sq, d});
    a.k = contiguous_view(k.data(), ElemType::f32, {1, hkv, skv, d});
    a.v = contiguous_view(v.data(), ElemType::f32, {1, hkv, skv, d});
    a.o = contiguous_view(o.data(), ElemType::f32, {1, hq, sq, d});
    a.lse = contiguous_view(lse.data(), ElemType::f32, {1, hq, sq});
    return a;
  }
};

std::vector<const Backend*> backends() {
  std::vector<const Backend*> out = {&reference_backend()};
  for (const Backend* b : {&x86_backend(), &llvm_backend()})
    if (b->unavailable_reason().empty()) out.push_back(b);
  return out;
}

bool row_is_nan(const Problem& p, int64_t h, int64_t i) {
  for (int64_t c = 0; c < p.d; ++c)
    if (!std::isnan(p.oat(h, i, c))) return false;
  return std::isnan(p.lseat(h, i));
}

bool row_is_finite(const Problem& p, int64_t h, int64_t i) {
  for (int64_t c = 0; c < p.d; ++c)
    if (!std::isfinite(p.oat(h, i, c))) return false;
  return std::isfinite(p.lseat(h, i));
}

const char* kCausal = R"({"dtype":"f32","head_dim":16,"num_heads":4,"num_kv_heads":1,"return_lse":true,
  "mask":[{"type":"causal","align":"top_left"}]})";

// Shapes: decode (one row per head: the direct path, split-KV on 2 threads)
// and a prefill tile (packed path), keys across several blocks.
TEST(NonFinite, NanInAnAllowedKeyIsNanInTheRowsThatReadIt) {
  const Spec spec = parse_spec(kCausal);
  for (const Backend* b : backends())
    for (int64_t sq : {int64_t(1), int64_t(150)})
      for (int threads : {1, 2}) {
        SCOPED_TRACE(b->name() + " Sq " + std::to_string(sq) + " threads " + std::to_string(threads));
        Problem p(sq, 150);
        p.kat(70, 3) = kNaN;  // key 70: read by rows i >= 70 (top-left causal); decode row 0 reads key 0 only
        b->compile(spec)->run(p.args(), RunOptions{threads});
        for (int64_t h = 0; h < p.hq; ++h)
          for (int64_t i = 0; i < sq; ++i) {
            if (i >= 70) EXPECT_TRUE(row_is_nan(p, h, i)) << "row " << i;
            else EXPECT_TRUE(row_is_finite(p, h, i)) << "row " << i << " does not read key 70";
          }
      }
}

TEST(NonFinite, InfInQAndAnOverflowingScoreAreNan) {
  const Spec spec = parse_spec(R"({"dtype":"f32","head_dim":16,"num_heads":4,"num_kv_heads":1,"return_lse":true})");
  for (const Backend* b : backends())
    for (int threads : {1, 2}) {
      SCOPED_TRACE(b->name() + " threads " + std::to_string(threads));
      Problem p(3, 100);
      p.qat(1, 2, 0) = kInf;                                       // head 1, row 2
      for (int64_t c = 0; c < p.d; ++c) p.qat(2, 0, c) = 3e37f;     // head 2, row 0: q.k past the f32 range
      for (int64_t c = 0; c < p.d; ++c) p.kat(40, c) = 3e37f;
      b->compile(spec)->run(p.args(), RunOptions{threads});
      EXPECT_TRUE(row_is_nan(p, 1, 2));
      EXPECT_TRUE(row_is_nan(p, 2, 0));
      EXPECT_TRUE(row_is_finite(p, 0, 0));
      EXPECT_TRUE(row_is_finite(p, 3, 1));
    }
}

TEST(NonFinite, FullyMaskedRowsStayZero) {
  // Bottom-right causal with Sq > Skv: the first rows allow no key.
  const Spec spec = parse_spec(R"({"dtype":"f32","head_dim":16,"num_heads":4,"num_kv_heads":1,"return_lse":true,
    "mask":[{"type":"causal","align":"bottom_right"}]})");
  for (const Backend* b : backends()) {
    SCOPED_TRACE(b->name());
    Problem p(9, 5);
    b->compile(spec)->run(p.args(), RunOptions{1});
    for (int64_t h = 0; h < p.hq; ++h)
      for (int64_t i = 0; i < 4; ++i) {
        for (int64_t c = 0; c < p.d; ++c) EXPECT_EQ(p.oat(h, i, c), 0.f);
        EXPECT_EQ(p.lseat(h, i), -kInf);
      }
  }
}

TEST(NonFinite, AdditiveMaskWithPlusInfOrNanIsAnErrorNamingTheElement) {
  const Spec spec = parse_spec(R"({"dtype":"f32","head_dim":16,"num_heads":4,"num_kv_heads":1,"return_lse":true,
    "mask":[{"type":"custom","format":"additive"}]})");
  for (float bad : {kInf, kNaN})
    for (const Backend* b : backends()) {
      SCOPED_TRACE(b->name());
      Problem p(5, 70);
      std::vector<float> mask(size_t(p.sq * p.skv), 0.f);
      mask[size_t(3 * p.skv + 66)] = -kInf;  // valid
      mask[size_t(4 * p.skv + 67)] = bad;
      AttentionArgs a = p.args();
      a.mask = contiguous_view(mask.data(), ElemType::f32, {p.sq, p.skv});
      try {
        b->compile(spec)->run(a, RunOptions{1});
        ADD_FAILURE() << "no error";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(std::string("found ") + (std::isnan(bad) ? "NaN" : "+inf") +
                                             " at query 4, key 67"),
                  std::string::npos)
            << e.what();
      }
    }
}

}  // namespace
}  // namespace attngen
