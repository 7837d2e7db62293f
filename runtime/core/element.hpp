// One element of a tensor's storage read as a double and written from one:
// the reference, the host merge of states, and the random problems of the
// CLI and the tests all convert through these. f16 and bf16 exactly both
// ways (half.hpp: a store rounds the double once, to nearest even); i32 and
// u8 by value; bool as 0 or 1 (a store writes x != 0).
#pragma once

#include <cstdint>
#include <cstring>

#include "runtime/core/dtype.hpp"
#include "runtime/core/half.hpp"

namespace attngen {

inline double load_element(ElemType t, const void* p) {
  switch (t) {
    case ElemType::f32: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    case ElemType::f16:
    case ElemType::bf16: {
      uint16_t h;
      std::memcpy(&h, p, 2);
      return t == ElemType::f16 ? f16_to_float(h) : bf16_to_float(h);
    }
    case ElemType::i32: {
      int32_t v;
      std::memcpy(&v, p, 4);
      return v;
    }
    case ElemType::u8:
    case ElemType::b8: return *static_cast<const uint8_t*>(p);
  }
  return 0;
}

inline void store_element(ElemType t, void* p, double x) {
  switch (t) {
    case ElemType::f32: {
      const float f = double_to_f32(x);
      std::memcpy(p, &f, 4);
      return;
    }
    case ElemType::f16:
    case ElemType::bf16: {
      const uint16_t h = t == ElemType::f16 ? double_to_f16(x) : double_to_bf16(x);
      std::memcpy(p, &h, 2);
      return;
    }
    case ElemType::i32: {
      const int32_t v = int32_t(x);
      std::memcpy(p, &v, 4);
      return;
    }
    case ElemType::u8: *static_cast<uint8_t*>(p) = uint8_t(x); return;
    case ElemType::b8: *static_cast<uint8_t*>(p) = uint8_t(x != 0); return;
  }
}

}  // namespace attngen
