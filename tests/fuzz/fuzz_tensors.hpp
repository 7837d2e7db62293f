// Shared by the fuzz targets of the C API (api_args, merge_states): the
// input as a byte stream, and tensor descriptors laid out in one real buffer
// whose dtype codes may be fuzzed to anything.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "attngen/attngen.h"

namespace attngen::fuzz {

// The fuzzer's input, read front to back; zeros once it is used up.
class Bytes {
 public:
  Bytes(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  bool empty() const { return i_ >= n_; }
  uint8_t u8() { return i_ < n_ ? p_[i_++] : 0; }
  int64_t i64() {
    uint64_t v = 0;
    for (int k = 0; k < 8; ++k) v |= uint64_t(u8()) << (8 * k);
    return int64_t(v);
  }

 private:
  const uint8_t* p_;
  size_t n_, i_ = 0;
};

// A descriptor's dtype as the int it holds (fuzzed codes are no enumerator).
inline int dtype_code(const attngen_tensor& t) {
  int c;
  std::memcpy(&c, &t.dtype, sizeof c);
  return c;
}
inline void set_dtype(attngen_tensor& t, int code) { std::memcpy(&t.dtype, &code, sizeof code); }
inline size_t dtype_size(int code) {
  return code == ATTNGEN_F32 || code == ATTNGEN_I32 ? 4 : code == ATTNGEN_F16 || code == ATTNGEN_BF16 ? 2 : 1;
}

// A contiguous tensor of `shape` at arena + *at, advancing *at past it (64-byte aligned).
inline attngen_tensor place(uint8_t* arena, size_t* at, int code, const std::vector<int64_t>& shape) {
  attngen_tensor t{};
  t.data = arena + *at;
  set_dtype(t, code);
  t.rank = int32_t(shape.size());
  int64_t n = 1;
  for (int d = t.rank - 1; d >= 0; --d) t.shape[d] = shape[size_t(d)], t.strides[d] = n, n *= shape[size_t(d)];
  *at = (*at + size_t(n) * dtype_size(code) + 63) & ~size_t(63);
  return t;
}

// The descriptor edits both API targets fuzz: for op % 12 in 0-7, edits x
// (the operand read from `in`; op >> 4 picks the axis) and returns true;
// other ops are the target's own. Pointers stay inside [arena, arena + bytes).
inline bool edit_descriptor(attngen_tensor& x, uint8_t op, Bytes& in, uint8_t* arena, size_t bytes) {
  const int d = op >> 4 & 3;
  switch (op % 12) {
    case 0: x.data = nullptr; return true;
    case 1: x.data = arena + uint64_t(in.i64()) % bytes; return true;
    case 2: set_dtype(x, int(int8_t(in.u8()))); return true;
    case 3: x.rank = int32_t(int8_t(in.u8())); return true;
    case 4: x.shape[d] = int8_t(in.u8()); return true;
    case 5: x.shape[d] = in.i64(); return true;
    case 6: x.strides[d] = int8_t(in.u8()); return true;
    case 7: x.strides[d] = in.i64(); return true;
  }
  return false;
}

}  // namespace attngen::fuzz
