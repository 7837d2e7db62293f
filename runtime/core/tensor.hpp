// A non-owning view of a strided tensor: what every backend reads and writes.
// Strides are in elements, so views into fused QKV buffers or KV caches larger
// than the current length work without copies.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/core/dtype.hpp"

namespace attngen {

constexpr int kMaxRank = 4;

struct TensorRef {
  const void* data = nullptr;
  ElemType type = ElemType::f32;
  int rank = 0;
  int64_t shape[kMaxRank] = {0, 0, 0, 0};
  int64_t stride[kMaxRank] = {0, 0, 0, 0};

  bool present() const { return data != nullptr || rank > 0; }
  // The element count; -1 when it does not fit in int64 (a zero extent makes
  // it 0 whatever the others are). Extents must be >= 0.
  int64_t numel() const { return checked_numel(shape, rank); }
  static int64_t checked_numel(const int64_t* shape, int rank) {
    for (int d = 0; d < rank; ++d)
      if (shape[d] == 0) return 0;
    int64_t n = 1;
    for (int d = 0; d < rank; ++d)
      if (__builtin_mul_overflow(n, shape[d], &n)) return -1;
    return n;
  }
  template <class T>
  const T* ptr() const { return static_cast<const T*>(data); }
  template <class T>
  T* mut() const { return static_cast<T*>(const_cast<void*>(data)); }
};

// A C-order (row-major, dense) view over `data`. Strides that would overflow
// int64 (a shape of more than 2^63 elements) are left 0; bind_args rejects
// such a shape by its element count.
TensorRef contiguous_view(const void* data, ElemType type, const std::vector<int64_t>& shape);

// The lowest (<= 0) and highest (>= 0) element offsets a non-empty view
// reaches from its data pointer (strides may be negative or 0): the elements
// of [lo, hi] hold it. nullopt when hi - lo does not fit in int64. Shared by
// the argument checks (runtime/core/args.cpp) and the device mirrors of host
// views (runtime/cuda/device_buffers.cpp).
struct ElementSpan {
  int64_t lo = 0, hi = 0;
};
std::optional<ElementSpan> element_span(const TensorRef& t);

// "[2, 20, 17, 128]"
std::string shape_string(const int64_t* shape, int rank);
inline std::string shape_string(const TensorRef& t) { return shape_string(t.shape, t.rank); }
std::string shape_string(const std::vector<int64_t>& shape);

}  // namespace attngen
