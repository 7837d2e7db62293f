// Reproducible normal random data for tests that build tensors by hand.
#pragma once

#include <cstddef>
#include <random>
#include <vector>

namespace attngen::testing {

inline std::vector<float> randn(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

}  // namespace attngen::testing
