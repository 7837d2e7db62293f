// What every mask and score mod of spec v1 means, written once.
//
// Two faces of the index masks live here:
//  * `allows(mask, i, j, ...)`: the definition, straight from docs/spec.md. The
//    reference backend uses it.
//  * `allowed_interval(...)`: each index mask allows one contiguous range of
//    keys per query row, so their AND is an interval too. Fast backends classify
//    tiles and mask partial tiles with it. Tests check it against `allows`.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "codegen/spec/spec.hpp"

namespace attngen {

// Lengths and run-time values that the index masks of one (batch entry) see.
struct RowContext {
  int64_t sq = 0;          // query length of this entry (q_len with padding)
  int64_t skv = 0;         // key length of this entry (kv_len with padding)
  int64_t prefix_len = 0;  // prefix_lm: static prefix or this entry's prefix_lens[b]
};

inline int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// The query position a causal-style mask compares keys with.
inline int64_t aligned_query(Align a, int64_t i, const RowContext& c) {
  return a == Align::top_left ? i : i + c.skv - c.sq;
}

// The definition of each index mask (document, custom and padding need data and
// are applied by the caller).
inline bool allows(const Mask& m, int64_t i, int64_t j, const RowContext& c) {
  if (const auto* x = std::get_if<CausalMask>(&m)) return j <= aligned_query(x->align, i, c);
  if (const auto* x = std::get_if<SlidingWindowMask>(&m)) {
    const int64_t ip = aligned_query(x->align, i, c);
    return (!x->left || ip - *x->left <= j) && (!x->right || j <= ip + *x->right);
  }
  if (const auto* x = std::get_if<ChunkedMask>(&m)) {
    const int64_t ip = aligned_query(x->align, i, c);
    return floor_div(ip, x->chunk) == floor_div(j, x->chunk) && j <= ip;
  }
  if (const auto* x = std::get_if<PrefixLmMask>(&m)) {
    const int64_t prefix = x->prefix ? *x->prefix : c.prefix_len;
    return j <= i || j < prefix;
  }
  return true;
}

struct KeyInterval {
  int64_t lo, hi;  // keys lo..hi inclusive are allowed; empty when lo > hi
  bool empty() const { return lo > hi; }
};

// Keys allowed for query row i by the AND of the spec's index masks, clipped
// to [0, skv - 1]. Data masks (document, custom) are not included.
inline KeyInterval allowed_interval(const Spec& s, int64_t i, const RowContext& c) {
  KeyInterval r{0, c.skv - 1};
  auto clip = [&r](int64_t lo, int64_t hi) {
    r.lo = std::max(r.lo, lo);
    r.hi = std::min(r.hi, hi);
  };
  for (const Mask& m : s.masks) {
    if (const auto* x = std::get_if<CausalMask>(&m)) {
      clip(0, aligned_query(x->align, i, c));
    } else if (const auto* x = std::get_if<SlidingWindowMask>(&m)) {
      const int64_t ip = aligned_query(x->align, i, c);
      clip(x->left ? ip - *x->left : 0, x->right ? ip + *x->right : c.skv - 1);
    } else if (const auto* x = std::get_if<ChunkedMask>(&m)) {
      const int64_t ip = aligned_query(x->align, i, c);
      clip(floor_div(ip, x->chunk) * x->chunk, ip);
    } else if (const auto* x = std::get_if<PrefixLmMask>(&m)) {
      const int64_t prefix = x->prefix ? *x->prefix : c.prefix_len;
      clip(0, std::max(i, prefix - 1));
    }
  }
  return r;
}

// An upper bound on the keys the index masks allow any one query row, for any
// lengths (run-time q_lens, kv_lens and prefix_lens included): masks of one
// alignment see the same aligned query ip, so those bounding a row's keys
// from above (causal: ip; a window's right: ip + right; a chunk: ip) and
// those from below (a window's left: ip - left; a chunk: ip - chunk + 1)
// leave at most hi - lo + 1 keys. nullopt when no alignment's masks bound
// both sides (no mask, causal alone, prefix_lm).
inline std::optional<int64_t> allowed_width_bound(const Spec& s) {
  std::optional<int64_t> bound;
  for (Align a : {Align::top_left, Align::bottom_right}) {
    std::optional<int64_t> lo, hi;  // offsets from ip
    const auto below = [&lo](int64_t x) { lo = lo ? std::max(*lo, x) : x; };
    const auto above = [&hi](int64_t x) { hi = hi ? std::min(*hi, x) : x; };
    for (const Mask& m : s.masks) {
      if (const auto* x = std::get_if<CausalMask>(&m)) {
        if (x->align == a) above(0);
      } else if (const auto* x = std::get_if<SlidingWindowMask>(&m)) {
        if (x->align != a) continue;
        if (x->left) below(-*x->left);
        if (x->right) above(*x->right);
      } else if (const auto* x = std::get_if<ChunkedMask>(&m)) {
        if (x->align != a) continue;
        below(1 - x->chunk);
        above(0);
      }
    }
    if (lo && hi) {
      const int64_t width = std::max<int64_t>(0, *hi - *lo + 1);
      bound = bound ? std::min(*bound, width) : width;
    }
  }
  return bound;
}

// Additive custom masks hold finite values or -inf (docs/spec.md); +inf and
// NaN are invalid input, reported by every backend with the first offending
// element of the bound view [B, Hq, Sq, Skv].
inline bool additive_value_valid(double v) { return !std::isnan(v) && v != std::numeric_limits<double>::infinity(); }
inline std::string additive_value_error(int64_t b, int64_t h, int64_t i, int64_t j, double v) {
  return "mask: an additive mask must hold finite values or -inf; found " + std::string(std::isnan(v) ? "NaN" : "+inf") +
         " at query " + std::to_string(i) + ", key " + std::to_string(j) + " (batch " + std::to_string(b) + ", head " +
         std::to_string(h) + ")";
}

// Score mods in spec order: softcap, then ALiBi (`slope` is this head's slope).
inline double softcap(double s, double cap) { return cap * std::tanh(s / cap); }
inline double alibi_bias(double slope, int64_t i, int64_t j, const RowContext& c) {
  return -slope * double(std::llabs(i + c.skv - c.sq - j));
}

}  // namespace attngen
