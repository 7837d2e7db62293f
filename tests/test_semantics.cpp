// codegen/spec/semantics.hpp and runtime/core/half.hpp, exhaustively:
//  * allowed_interval (what fast backends tile with) equals the AND of the
//    definitions `allows` for every (i, j) over a grid of specs and lengths;
//  * floor_div rounds toward minus infinity;
//  * f16/bf16 conversions: widening is exact, narrowing from double rounds to
//    nearest even (ties, subnormals, overflow, NaN), checked against a brute
//    force nearest-value search and over all 65536 bit patterns.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "codegen/spec/semantics.hpp"
#include "codegen/spec/spec.hpp"
#include "runtime/core/half.hpp"

namespace attngen {
namespace {

// ---------------------------------------------------------------- floor_div

TEST(Semantics, FloorDivRoundsTowardMinusInfinity) {
  EXPECT_EQ(floor_div(-1, 2), -1);
  EXPECT_EQ(floor_div(-2, 2), -1);
  EXPECT_EQ(floor_div(-3, 2), -2);
  EXPECT_EQ(floor_div(-4, 3), -2);
  EXPECT_EQ(floor_div(-3, 3), -1);
  EXPECT_EQ(floor_div(0, 3), 0);
  EXPECT_EQ(floor_div(3, 2), 1);
  EXPECT_EQ(floor_div(5, -2), -3);
  EXPECT_EQ(floor_div(-5, -2), 2);
  EXPECT_EQ(floor_div(-1, 16), -1);
  EXPECT_EQ(floor_div(-17, 16), -2);
  for (int64_t a = -100; a <= 100; ++a)
    for (int64_t b : {-7, -3, -2, -1, 1, 2, 3, 5, 16})
      ASSERT_EQ(floor_div(a, b), int64_t(std::floor(double(a) / double(b)))) << a << " / " << b;
}

// ---------------------------------------------------------------- allowed_interval

std::string describe(const Mask& m) {
  auto al = [](Align a) { return std::string(a == Align::top_left ? "top_left" : "bottom_right"); };
  auto opt = [](const std::optional<int64_t>& x) { return x ? std::to_string(*x) : std::string("null"); };
  if (const auto* x = std::get_if<CausalMask>(&m)) return "causal(" + al(x->align) + ")";
  if (const auto* x = std::get_if<SlidingWindowMask>(&m))
    return "window(" + opt(x->left) + "," + opt(x->right) + "," + al(x->align) + ")";
  if (const auto* x = std::get_if<ChunkedMask>(&m)) return "chunked(" + std::to_string(x->chunk) + "," + al(x->align) + ")";
  if (const auto* x = std::get_if<PrefixLmMask>(&m)) return "prefix_lm(" + opt(x->prefix) + ")";
  if (std::holds_alternative<PaddingMask>(m)) return "padding";
  if (std::holds_alternative<DocumentMask>(m)) return "document";
  return "custom";
}

// Every index mask variant of the grid.
std::vector<Mask> index_masks() {
  std::vector<Mask> out;
  const std::optional<int64_t> sides[] = {std::nullopt, 0, 1, 3, 20};
  for (Align a : {Align::top_left, Align::bottom_right}) {
    out.push_back(CausalMask{a});
    for (const auto& l : sides)
      for (const auto& r : sides) out.push_back(SlidingWindowMask{l, r, a});
    for (int64_t c : {1, 3, 16}) out.push_back(ChunkedMask{c, a});
  }
  for (int64_t p : {0, 1, 2, 5, 40}) out.push_back(PrefixLmMask{p});
  out.push_back(PrefixLmMask{std::nullopt});
  return out;
}

// Checks one spec for every (sq, skv, prefix_len) and every (i, j); returns
// the number of disagreeing rows (reporting the first few).
int64_t check_spec(const Spec& s, int& reported) {
  static const int64_t lens[] = {1, 2, 3, 5, 17, 33};
  int64_t bad = 0;
  for (int64_t sq : lens)
    for (int64_t skv : lens)
      for (int64_t prefix : {int64_t(0), int64_t(1), int64_t(4), skv, skv + 3}) {
        const RowContext c{sq, skv, prefix};
        for (int64_t i = 0; i < sq; ++i) {
          const KeyInterval r = allowed_interval(s, i, c);
          bool row_bad = false;
          for (int64_t j = 0; j < skv && !row_bad; ++j) {
            bool all = true;
            for (const Mask& m : s.masks) all = all && allows(m, i, j, c);
            const bool in = !r.empty() && r.lo <= j && j <= r.hi;
            row_bad = in != all;
          }
          if (!r.empty()) row_bad = row_bad || r.lo < 0 || r.hi > skv - 1;
          if (row_bad) {
            ++bad;
            if (reported++ < 10) {
              std::string masks, pattern;
              for (const Mask& m : s.masks) masks += describe(m) + " ";
              for (int64_t j = 0; j < skv; ++j) {
                bool all = true;
                for (const Mask& m : s.masks) all = all && allows(m, i, j, c);
                pattern += all ? '1' : '0';
              }
              ADD_FAILURE() << masks << "sq=" << sq << " skv=" << skv << " prefix_len=" << prefix << " i=" << i
                            << ": allows gives " << pattern << ", allowed_interval gives [" << r.lo << ", " << r.hi
                            << "]";
            }
          }
        }
      }
  return bad;
}

TEST(Semantics, AllowedIntervalMatchesAllowsForEachMaskAlone) {
  int reported = 0;
  int64_t specs = 0;
  for (const Mask& m : index_masks()) {
    Spec s;
    s.masks = {m};
    EXPECT_EQ(check_spec(s, reported), 0) << describe(m);
    ++specs;
  }
  // No index mask at all (and data masks only): every key of the row.
  for (const std::vector<Mask>& ms : std::vector<std::vector<Mask>>{
           {}, {PaddingMask{}}, {DocumentMask{}}, {CustomMask{CustomFormat::boolean}},
           {PaddingMask{}, DocumentMask{}, CustomMask{CustomFormat::additive}}}) {
    Spec s;
    s.masks = ms;
    EXPECT_EQ(check_spec(s, reported), 0);
    for (int64_t i = 0; i < 4; ++i) {
      const KeyInterval r = allowed_interval(s, i, RowContext{4, 7, 0});
      EXPECT_EQ(r.lo, 0);
      EXPECT_EQ(r.hi, 6);
    }
  }
  EXPECT_GT(specs, 50);
}

TEST(Semantics, AllowedIntervalMatchesAllowsForPairsOfMasks) {
  const std::vector<Mask> all = index_masks();
  int reported = 0;
  for (size_t a = 0; a < all.size(); ++a)
    for (size_t b = a; b < all.size(); ++b) {
      Spec s;
      s.masks = {all[a], PaddingMask{}, all[b]};
      ASSERT_EQ(check_spec(s, reported), 0) << describe(all[a]) << " & " << describe(all[b]);
    }
}

TEST(Semantics, AllowedIntervalMatchesAllowsForTriples) {
  // Each kind once, both alignments mixed.
  const std::vector<std::vector<Mask>> triples = {
      {CausalMask{Align::bottom_right}, SlidingWindowMask{3, std::nullopt, Align::top_left}, ChunkedMask{3, Align::bottom_right}},
      {CausalMask{Align::top_left}, SlidingWindowMask{1, 1, Align::bottom_right}, PrefixLmMask{2}},
      {ChunkedMask{16, Align::top_left}, SlidingWindowMask{std::nullopt, 0, Align::bottom_right}, PrefixLmMask{std::nullopt}},
      {CausalMask{Align::bottom_right}, PrefixLmMask{5}, ChunkedMask{1, Align::top_left}},
      {SlidingWindowMask{0, 0, Align::top_left}, SlidingWindowMask{2, 2, Align::bottom_right}, CausalMask{Align::top_left}},
  };
  int reported = 0;
  for (const auto& ms : triples) {
    Spec s;
    s.masks = ms;
    s.masks.push_back(DocumentMask{});
    EXPECT_EQ(check_spec(s, reported), 0);
  }
}

// allowed_width_bound: no row of any length has more allowed keys than the
// bound says, for every pair of index masks; for one mask alone, some row
// reaches it (it is tight); hand-derived values.
TEST(Semantics, AllowedWidthBoundHoldsForEveryRowAndIsReached) {
  const auto widest = [](const Spec& s) {
    static const int64_t lens[] = {1, 2, 3, 5, 17, 33, 80};
    int64_t w = 0;
    for (int64_t sq : lens)
      for (int64_t skv : lens)
        for (int64_t prefix : {int64_t(0), int64_t(3), skv})
          for (int64_t i = 0; i < sq; ++i) {
            const KeyInterval r = allowed_interval(s, i, RowContext{sq, skv, prefix});
            if (!r.empty()) w = std::max(w, r.hi - r.lo + 1);
          }
    return w;
  };
  const std::vector<Mask> all = index_masks();
  int64_t bounded = 0;
  for (size_t a = 0; a < all.size(); ++a) {
    Spec one;
    one.masks = {all[a]};
    if (const std::optional<int64_t> bound = allowed_width_bound(one)) {
      EXPECT_EQ(widest(one), *bound) << describe(all[a]);
    }
    for (size_t b = a; b < all.size(); ++b) {
      Spec s;
      s.masks = {all[a], PaddingMask{}, all[b]};
      const std::optional<int64_t> bound = allowed_width_bound(s);
      if (!bound) continue;
      ++bounded;
      ASSERT_LE(widest(s), *bound) << describe(all[a]) << " & " << describe(all[b]);
    }
  }
  EXPECT_GT(bounded, 100);

  const auto bound_of = [](std::vector<Mask> ms) {
    Spec s;
    s.masks = std::move(ms);
    return allowed_width_bound(s);
  };
  EXPECT_EQ(bound_of({}), std::nullopt);
  EXPECT_EQ(bound_of({CausalMask{Align::bottom_right}}), std::nullopt);
  EXPECT_EQ(bound_of({PrefixLmMask{5}}), std::nullopt);
  EXPECT_EQ(bound_of({SlidingWindowMask{3, std::nullopt, Align::top_left}}), std::nullopt);
  EXPECT_EQ(bound_of({SlidingWindowMask{3, 1, Align::top_left}}), 5);
  EXPECT_EQ(bound_of({SlidingWindowMask{127, 0, Align::bottom_right}}), 128);
  EXPECT_EQ(bound_of({CausalMask{Align::bottom_right}, SlidingWindowMask{1023, std::nullopt, Align::bottom_right}}),
            1024);
  EXPECT_EQ(bound_of({ChunkedMask{16, Align::top_left}}), 16);
  EXPECT_EQ(bound_of({ChunkedMask{16, Align::top_left}, SlidingWindowMask{3, 1, Align::bottom_right}}), 5);
  // Another alignment's causal says nothing about this one's window.
  EXPECT_EQ(bound_of({CausalMask{Align::top_left}, SlidingWindowMask{7, std::nullopt, Align::bottom_right}}),
            std::nullopt);
  EXPECT_EQ(bound_of({SlidingWindowMask{0, 0, Align::top_left}, CausalMask{Align::top_left},
                      SlidingWindowMask{5, std::nullopt, Align::top_left}}),
            1);
}

TEST(Semantics, AllowedIntervalSpotChecks) {
  // Hand-derived intervals (independent of `allows`).
  Spec s;
  s.masks = {CausalMask{Align::bottom_right}};
  KeyInterval r = allowed_interval(s, 0, RowContext{2, 5, 0});
  EXPECT_EQ(r.lo, 0);
  EXPECT_EQ(r.hi, 3);
  r = allowed_interval(s, 0, RowContext{5, 2, 0});
  EXPECT_TRUE(r.empty());
  r = allowed_interval(s, 4, RowContext{5, 2, 0});
  EXPECT_EQ(r.lo, 0);
  EXPECT_EQ(r.hi, 1);
  s.masks = {ChunkedMask{4, Align::top_left}};
  r = allowed_interval(s, 6, RowContext{8, 8, 0});
  EXPECT_EQ(r.lo, 4);
  EXPECT_EQ(r.hi, 6);
  s.masks = {ChunkedMask{2, Align::bottom_right}};
  EXPECT_TRUE(allowed_interval(s, 1, RowContext{3, 1, 0}).empty());  // i' = -1
  s.masks = {SlidingWindowMask{2, 1, Align::top_left}};
  r = allowed_interval(s, 5, RowContext{10, 10, 0});
  EXPECT_EQ(r.lo, 3);
  EXPECT_EQ(r.hi, 6);
  s.masks = {PrefixLmMask{std::nullopt}};
  r = allowed_interval(s, 1, RowContext{4, 9, 6});
  EXPECT_EQ(r.lo, 0);
  EXPECT_EQ(r.hi, 5);
  // A zero-length key sequence allows nothing.
  s.masks = {};
  EXPECT_TRUE(allowed_interval(s, 0, RowContext{1, 0, 0}).empty());
}

TEST(Semantics, AlibiBiasAndSoftcap) {
  const RowContext c{2, 5, 0};
  EXPECT_EQ(alibi_bias(0.5, 0, 0, c), -1.5);  // |0 + 3 - 0| = 3
  EXPECT_EQ(alibi_bias(0.5, 1, 4, c), -0.0);  // on the bottom-right diagonal
  EXPECT_EQ(alibi_bias(2.0, 1, 4, RowContext{5, 2, 0}), -12.0);  // |1 - 3 - 4| = 6
  EXPECT_DOUBLE_EQ(softcap(3.0, 2.0), 2.0 * std::tanh(1.5));
  EXPECT_NEAR(softcap(1e-6, 50.0), 1e-6, 1e-15);
  EXPECT_EQ(softcap(1e9, 50.0), 50.0);
}

// ---------------------------------------------------------------- half.hpp

double f16_value(uint16_t h) {  // closed form, independent of f16_to_float
  const int sign = h >> 15, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  double v;
  if (exp == 0x1f) v = man ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  else if (exp == 0) v = std::ldexp(double(man), -24);
  else v = std::ldexp(1.0 + man / 1024.0, exp - 15);
  return sign ? -v : v;
}
double bf16_value(uint16_t h) {
  const int sign = h >> 15, exp = (h >> 7) & 0xff, man = h & 0x7f;
  double v;
  if (exp == 0xff) v = man ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  else if (exp == 0) v = std::ldexp(double(man), -133);
  else v = std::ldexp(1.0 + man / 128.0, exp - 127);
  return sign ? -v : v;
}
bool f16_is_nan(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff); }
bool bf16_is_nan(uint16_t h) { return (h & 0x7f80) == 0x7f80 && (h & 0x7f); }

TEST(Half, WideningIsExactForEveryBitPattern) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const uint16_t h = uint16_t(b);
    const double f = f16_value(h), g = bf16_value(h);
    if (f16_is_nan(h)) ASSERT_TRUE(std::isnan(f16_to_float(h))) << std::hex << b;
    else {
      ASSERT_EQ(double(f16_to_float(h)), f) << std::hex << b;
      ASSERT_EQ(std::signbit(f16_to_float(h)), bool(h >> 15)) << std::hex << b;
    }
    if (bf16_is_nan(h)) ASSERT_TRUE(std::isnan(bf16_to_float(h))) << std::hex << b;
    else ASSERT_EQ(double(bf16_to_float(h)), g) << std::hex << b;
  }
}

TEST(Half, EveryBitPatternRoundTrips) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const uint16_t h = uint16_t(b);
    const uint16_t f = double_to_f16(double(f16_to_float(h)));
    const uint16_t g = double_to_bf16(double(bf16_to_float(h)));
    if (f16_is_nan(h)) {
      ASSERT_TRUE(f16_is_nan(f)) << std::hex << b << " -> " << f;
      ASSERT_EQ(f >> 15, h >> 15) << "NaN keeps its sign";
    } else {
      ASSERT_EQ(f, h) << std::hex << b;
    }
    if (bf16_is_nan(h)) {
      ASSERT_TRUE(bf16_is_nan(g)) << std::hex << b << " -> " << g;
    } else {
      ASSERT_EQ(g, h) << std::hex << b;
    }
  }
}

TEST(Half, F16RoundsToNearestEven) {
  const double u = std::ldexp(1.0, -10);  // ulp at 1
  EXPECT_EQ(double_to_f16(1.0), 0x3C00);
  EXPECT_EQ(double_to_f16(1.0 + u / 2), 0x3C00);          // tie -> even
  EXPECT_EQ(double_to_f16(1.0 + 3 * u / 2), 0x3C02);      // tie -> even (up)
  EXPECT_EQ(double_to_f16(1.0 + u / 2 + 1e-12), 0x3C01);  // just above the tie
  EXPECT_EQ(double_to_f16(1.0 + u / 2 - 1e-12), 0x3C00);
  // Straight from double: via float, 1 + u/2 + 2^-40 would round to the tie
  // 1 + u/2 and then down to 1.
  EXPECT_EQ(double_to_f16(1.0 + u / 2 + std::ldexp(1.0, -40)), 0x3C01);
  EXPECT_EQ(double_to_f16(-1.0 - 3 * u / 2), 0xBC02);
  EXPECT_EQ(double_to_f16(1.0 / 3), 0x3555);
  EXPECT_EQ(double_to_f16(0.1), 0x2E66);
  EXPECT_EQ(double_to_f16(2049.0), 0x6800);  // tie between 2048 and 2050 -> 2048
  EXPECT_EQ(double_to_f16(2051.0), 0x6802);  // tie between 2050 and 2052 -> 2052
}

TEST(Half, F16SubnormalsZerosAndSpecials) {
  const double tiny = std::ldexp(1.0, -24);  // smallest subnormal
  EXPECT_EQ(double_to_f16(0.0), 0x0000);
  EXPECT_EQ(double_to_f16(-0.0), 0x8000);
  EXPECT_EQ(double_to_f16(tiny), 0x0001);
  EXPECT_EQ(double_to_f16(-tiny), 0x8001);
  EXPECT_EQ(double_to_f16(tiny / 2), 0x0000);              // tie -> even (zero)
  EXPECT_EQ(double_to_f16(-tiny / 2), 0x8000);             // keeps the sign
  EXPECT_EQ(double_to_f16(tiny / 2 * 1.0000001), 0x0001);  // above the tie
  EXPECT_EQ(double_to_f16(3 * tiny / 2), 0x0002);          // tie -> even
  EXPECT_EQ(double_to_f16(5 * tiny / 2), 0x0002);          // tie -> even
  EXPECT_EQ(double_to_f16(1023 * tiny), 0x03FF);           // largest subnormal
  EXPECT_EQ(double_to_f16(1023.5 * tiny), 0x0400);         // tie -> smallest normal (even)
  EXPECT_EQ(double_to_f16(std::ldexp(1.0, -14)), 0x0400);
  EXPECT_EQ(double_to_f16(1e-300), 0x0000);
  EXPECT_EQ(double_to_f16(std::numeric_limits<double>::denorm_min()), 0x0000);
  // Overflow: 65504 is the largest finite; 65520 is the tie with 2^16 -> inf.
  EXPECT_EQ(double_to_f16(65504.0), 0x7BFF);
  EXPECT_EQ(double_to_f16(65519.99), 0x7BFF);
  EXPECT_EQ(double_to_f16(65520.0), 0x7C00);
  EXPECT_EQ(double_to_f16(1e10), 0x7C00);
  EXPECT_EQ(double_to_f16(-1e300), 0xFC00);
  EXPECT_EQ(double_to_f16(std::numeric_limits<double>::infinity()), 0x7C00);
  EXPECT_EQ(double_to_f16(-std::numeric_limits<double>::infinity()), 0xFC00);
  EXPECT_TRUE(f16_is_nan(double_to_f16(std::numeric_limits<double>::quiet_NaN())));
  EXPECT_TRUE(f16_is_nan(double_to_f16(-std::numeric_limits<double>::quiet_NaN())));
}

TEST(Half, Bf16RoundsToNearestEven) {
  const double u = std::ldexp(1.0, -7);
  EXPECT_EQ(double_to_bf16(1.0), 0x3F80);
  EXPECT_EQ(double_to_bf16(1.0 + u / 2), 0x3F80);
  EXPECT_EQ(double_to_bf16(1.0 + 3 * u / 2), 0x3F82);
  EXPECT_EQ(double_to_bf16(1.0 + u / 2 + std::ldexp(1.0, -40)), 0x3F81);  // no double rounding via float
  EXPECT_EQ(double_to_bf16(1.0 / 3), 0x3EAB);  // truncating f32 0x3EAAAAAB would give 0x3EAA
  EXPECT_EQ(double_to_bf16(-2.0), 0xC000);
  const double tiny = std::ldexp(1.0, -133);
  EXPECT_EQ(double_to_bf16(tiny), 0x0001);
  EXPECT_EQ(double_to_bf16(tiny / 2), 0x0000);
  EXPECT_EQ(double_to_bf16(3 * tiny / 2), 0x0002);
  EXPECT_EQ(double_to_bf16(127.5 * tiny), 0x0080);  // tie -> smallest normal
  EXPECT_EQ(double_to_bf16(-0.0), 0x8000);
  EXPECT_EQ(double_to_bf16(1e-300), 0x0000);
  // Largest finite (2 - 2^-7) * 2^127; the tie with 2^128 rounds to inf.
  const double max = std::ldexp(2.0 - std::ldexp(1.0, -7), 127);
  EXPECT_EQ(double_to_bf16(max), 0x7F7F);
  EXPECT_EQ(double_to_bf16(std::ldexp(2.0 - std::ldexp(1.0, -8), 127)), 0x7F80);
  EXPECT_EQ(double_to_bf16(std::ldexp(2.0 - std::ldexp(1.0, -8) - std::ldexp(1.0, -20), 127)), 0x7F7F);
  EXPECT_EQ(double_to_bf16(double(std::numeric_limits<float>::max())), 0x7F80);
  EXPECT_EQ(double_to_bf16(1e39), 0x7F80);
  EXPECT_EQ(double_to_bf16(-1e300), 0xFF80);
  EXPECT_EQ(double_to_bf16(-std::numeric_limits<double>::infinity()), 0xFF80);
  EXPECT_TRUE(bf16_is_nan(double_to_bf16(std::numeric_limits<double>::quiet_NaN())));
}

// Nearest representable value by search over the sorted positive finite
// values, ties to the even bit pattern; `overflow` is the smallest magnitude
// that rounds to infinity.
uint16_t brute_round(double x, const std::vector<double>& pos, double overflow, uint16_t inf) {
  const uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  const double a = std::fabs(x);
  if (a >= overflow) return sign | inf;
  const auto it = std::lower_bound(pos.begin(), pos.end(), a);
  size_t hi = size_t(it - pos.begin());
  if (hi < pos.size() && pos[hi] == a) return sign | uint16_t(hi);
  const size_t lo = hi - 1;  // a > pos[0] = 0
  if (hi == pos.size()) return sign | uint16_t(lo);
  const double dl = a - pos[lo], dh = pos[hi] - a;
  if (dl < dh) return sign | uint16_t(lo);
  if (dh < dl) return sign | uint16_t(hi);
  return sign | uint16_t(lo % 2 == 0 ? lo : hi);
}

TEST(Half, NarrowingMatchesBruteForceNearestEven) {
  std::vector<double> f16_pos, bf16_pos;
  for (uint32_t b = 0; b <= 0x7BFF; ++b) f16_pos.push_back(f16_value(uint16_t(b)));
  for (uint32_t b = 0; b <= 0x7F7F; ++b) bf16_pos.push_back(bf16_value(uint16_t(b)));
  const double f16_overflow = 65520.0;
  const double bf16_overflow = std::ldexp(2.0 - std::ldexp(1.0, -8), 127);
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> mant(1.0, 2.0);
  for (int n = 0; n < 200000; ++n) {
    // Magnitudes across every binade of both formats and beyond, both signs;
    // some exactly halfway between neighbours.
    const int e16 = int(rng() % 48) - 30, e_bf = int(rng() % 290) - 145;
    double x16 = std::ldexp(mant(rng), e16), xbf = std::ldexp(mant(rng), e_bf);
    if (n % 4 == 1) {
      const size_t i = size_t(rng() % (f16_pos.size() - 1));
      x16 = (f16_pos[i] + f16_pos[i + 1]) / 2;
      const size_t k = size_t(rng() % (bf16_pos.size() - 1));
      xbf = (bf16_pos[k] + bf16_pos[k + 1]) / 2;
    }
    if (rng() % 2) x16 = -x16, xbf = -xbf;
    ASSERT_EQ(double_to_f16(x16), brute_round(x16, f16_pos, f16_overflow, 0x7C00)) << x16;
    ASSERT_EQ(double_to_bf16(xbf), brute_round(xbf, bf16_pos, bf16_overflow, 0x7F80)) << xbf;
  }
}

TEST(Half, F32NarrowingIsNearestEven) {
  EXPECT_EQ(double_to_f32(1.0 + std::ldexp(1.0, -24)), 1.0f);  // tie -> even
  EXPECT_EQ(double_to_f32(1.0 + 3 * std::ldexp(1.0, -24)), 1.0f + std::ldexp(1.0f, -22));
  EXPECT_EQ(float_to_bits(double_to_f32(1.0 / 3)), 0x3EAAAAABu);
}

}  // namespace
}  // namespace attngen
