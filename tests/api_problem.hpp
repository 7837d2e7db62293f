// The problem and helpers the public-API tests share: a padded GQA spec with
// bottom-right causal masking and LSE, one contiguous problem of it, and the
// status and message of a failing C call.
#pragma once

#include <attngen/attngen.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/random_data.hpp"

namespace attngen::api_test {

namespace ag = attngen::api;
using attngen::testing::randn;

inline const char* kPaddedSpec = R"({"dtype": "f32", "head_dim": 32, "num_heads": 4, "num_kv_heads": 2,
    "mask": [{"type": "padding"}, {"type": "causal", "align": "bottom_right"}], "return_lse": true})";

inline double rel_err(const std::vector<float>& a, const std::vector<float>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) num += (a[i] - ref[i]) * (a[i] - ref[i]), den += ref[i] * ref[i];
  return std::sqrt(num / den);
}

// One padded problem of kPaddedSpec, contiguous bhsd.
struct Problem {
  static constexpr int64_t B = 2, H = 4, Hkv = 2, Sq = 9, Skv = 70, D = 32;
  std::vector<float> q = randn(B * H * Sq * D, 1), k = randn(B * Hkv * Skv * D, 2), v = randn(B * Hkv * Skv * D, 3);
  std::vector<int32_t> kv_lens = {70, 41};
  std::vector<float> o = std::vector<float>(B * H * Sq * D, NAN), lse = std::vector<float>(B * H * Sq, NAN);
  attngen_args args() {
    attngen_args a{};
    a.q = ag::tensor(q.data(), ATTNGEN_F32, {B, H, Sq, D});
    a.k = ag::tensor(k.data(), ATTNGEN_F32, {B, Hkv, Skv, D});
    a.v = ag::tensor(v.data(), ATTNGEN_F32, {B, Hkv, Skv, D});
    a.o = ag::tensor(o.data(), ATTNGEN_F32, {B, H, Sq, D});
    a.lse = ag::tensor(lse.data(), ATTNGEN_F32, {B, H, Sq});
    a.kv_lens = ag::tensor(kv_lens.data(), ATTNGEN_I32, {B});
    return a;
  }
};

// The status and message of a failing C call.
struct Failure {
  attngen_status status;
  std::string message;
};
inline Failure failure(attngen_status s) { return {s, s == ATTNGEN_OK ? "" : attngen_last_error()}; }
inline bool has(const Failure& f, const std::string& text) { return f.message.find(text) != std::string::npos; }

}  // namespace attngen::api_test
