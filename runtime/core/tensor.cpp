#include "runtime/core/tensor.hpp"

#include "runtime/core/error.hpp"

namespace attngen {

std::optional<ElementSpan> element_span(const TensorRef& t) {
  ElementSpan s;
  int64_t width = 0;  // hi - lo: the sum of every axis's |reach|
  for (int d = 0; d < t.rank; ++d) {
    int64_t reach = 0;
    if (t.stride[d] == INT64_MIN || __builtin_mul_overflow(t.shape[d] - 1, t.stride[d], &reach) ||
        __builtin_add_overflow(width, reach < 0 ? -reach : reach, &width))
      return std::nullopt;
    (reach < 0 ? s.lo : s.hi) += reach;  // within [-width, width]: no overflow
  }
  return s;
}

TensorRef contiguous_view(const void* data, ElemType type, const std::vector<int64_t>& shape) {
  if (shape.size() > size_t(kMaxRank))
    throw Error("tensor rank " + std::to_string(shape.size()) + " exceeds the maximum of 4");
  TensorRef t;
  t.data = data;
  t.type = type;
  t.rank = int(shape.size());
  int64_t s = 1;
  bool overflow = false;
  for (int d = t.rank - 1; d >= 0; --d) {
    t.shape[d] = shape[size_t(d)];
    t.stride[d] = overflow ? 0 : s;
    overflow = overflow || __builtin_mul_overflow(s, shape[size_t(d)], &s);
  }
  return t;
}

std::string shape_string(const int64_t* shape, int rank) {
  std::string s = "[";
  for (int d = 0; d < rank; ++d) {
    if (d) s += ", ";
    s += std::to_string(shape[d]);
  }
  return s + "]";
}

std::string shape_string(const std::vector<int64_t>& shape) {
  return shape_string(shape.data(), int(shape.size()));
}

}  // namespace attngen
