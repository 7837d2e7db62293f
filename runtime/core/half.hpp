// Exact conversions between f16/bf16 bit patterns and float/double.
// Widening is exact; narrowing rounds to nearest even straight from the source
// value (double -> f16 never goes through float, which would round twice).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace attngen {

inline float bits_to_float(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
inline uint32_t float_to_bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

inline float bf16_to_float(uint16_t h) { return bits_to_float(uint32_t(h) << 16); }

inline float f16_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t man = h & 0x3ff;
  if (exp == 0x1f) return bits_to_float(sign | 0x7f800000u | (man << 13));  // inf / nan
  if (exp == 0) {
    // zero or subnormal: man * 2^-24, exact in float.
    const float v = std::ldexp(float(man), -24);
    return sign ? -v : v;
  }
  return bits_to_float(sign | ((exp + 112) << 23) | (man << 13));
}

// Rounds a double to a binary format with `man_bits` stored mantissa bits and
// `exp_bits` exponent bits (IEEE layout, with subnormals), nearest-even.
// Returns the bit pattern in the low 1 + exp_bits + man_bits bits.
inline uint32_t round_double_to_format(double x, int man_bits, int exp_bits) {
  const uint32_t sign = std::signbit(x) ? 1u : 0u;
  const uint32_t sign_bit = sign << (exp_bits + man_bits);
  const uint32_t exp_all_ones = (1u << exp_bits) - 1;
  if (std::isnan(x)) return sign_bit | (exp_all_ones << man_bits) | (1u << (man_bits - 1));
  const double a = std::fabs(x);
  const int bias = (1 << (exp_bits - 1)) - 1;
  const int emin = 1 - bias, emax = bias;
  if (std::isinf(a)) return sign_bit | (exp_all_ones << man_bits);
  if (a == 0) return sign_bit;
  int e2;
  std::frexp(a, &e2);  // a = m * 2^e2, m in [0.5, 1)
  const int E = e2 - 1;  // a = 1.f * 2^E
  const int q_exp = (E < emin ? emin : E) - man_bits;  // exponent of one unit in the last place
  const double rounded = std::ldexp(std::nearbyint(std::ldexp(a, -q_exp)), q_exp);
  if (rounded >= std::ldexp(1.0, emax + 1)) return sign_bit | (exp_all_ones << man_bits);
  if (rounded < std::ldexp(1.0, emin)) {  // subnormal (or zero after rounding)
    const uint32_t man = uint32_t(std::ldexp(rounded, man_bits - emin));
    return sign_bit | man;
  }
  std::frexp(rounded, &e2);
  const int Er = e2 - 1;
  const uint32_t man = uint32_t(std::ldexp(rounded, man_bits - Er)) - (1u << man_bits);
  return sign_bit | (uint32_t(Er + bias) << man_bits) | man;
}

inline uint16_t double_to_f16(double x) { return uint16_t(round_double_to_format(x, 10, 5)); }
inline uint16_t double_to_bf16(double x) { return uint16_t(round_double_to_format(x, 7, 8)); }
inline float double_to_f32(double x) { return float(x); }  // the C++ conversion rounds nearest-even

}  // namespace attngen
