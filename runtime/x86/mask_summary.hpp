// Per-call summary of a custom mask: for each mask row and 64-key block,
// whether any and whether all of its keys are kept. Built in one sequential
// pass over the mask (prefetch-friendly) so that classifying a (Q tile, K
// block) pair reads a few bytes instead of the mask itself.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/core/args.hpp"

namespace attngen::x86 {

class MaskBlocks {
 public:
  static constexpr uint8_t kAny = 1, kAll = 2;

  MaskBlocks() = default;
  // `mask`: the bound 4-D view [B, Hq, Sq, Skv] (zero strides on broadcast axes).
  explicit MaskBlocks(const TensorRef& mask);

  // kAny | kAll bits of row (b, h, i) over keys [64 kb, 64 kb + 63] within Skv.
  uint8_t at(int64_t b, int64_t h, int64_t i, int64_t kb) const {
    return bits_[size_t(b * sb_ + h * sh_ + i * si_ + kb)];
  }

 private:
  std::vector<uint8_t> bits_;
  int64_t sb_ = 0, sh_ = 0, si_ = 0;
};

}  // namespace attngen::x86
