#include "runtime/core/merge_states.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "runtime/core/args.hpp"
#include "runtime/core/error.hpp"
#include "runtime/core/element.hpp"

namespace attngen {
namespace {

using Load = double (*)(const char* p);
using Store = void (*)(char* p, double x);

template <ElemType T>
double load_as(const char* p) {
  return load_element(T, p);
}
template <ElemType T>
void store_as(char* p, double x) {
  store_element(T, p, x);
}

// The element type's conversion chosen once a tensor, not once an element.
Load loader(ElemType t) {
  return t == ElemType::f16 ? load_as<ElemType::f16> : t == ElemType::bf16 ? load_as<ElemType::bf16> : load_as<ElemType::f32>;
}

Store storer(ElemType t) {
  return t == ElemType::f16 ? store_as<ElemType::f16> : t == ElemType::bf16 ? store_as<ElemType::bf16> : store_as<ElemType::f32>;
}

void check_extents(const std::string& name, const TensorRef& t) {
  if (t.rank < 0 || t.rank > kMaxRank)
    throw Error(name + ": rank must be in [0, 4], got " + std::to_string(t.rank));
  for (int d = 0; d < t.rank; ++d)
    if (t.shape[d] < 0) throw Error(name + ": negative extent in shape " + shape_string(t));
}

void check_float(const std::string& name, const TensorRef& t) {
  if (!is_float_storage(t.type))
    throw Error(name + ": expected dtype f32, f16 or bf16, got " + std::string(elem_name(t.type)));
}

// `t` must have exactly `rank` extents equal to the first `rank` of `like`.
void check_shape(const std::string& name, const TensorRef& t, const TensorRef& like, int rank, const char* like_name) {
  bool same = t.rank == rank;
  for (int d = 0; same && d < rank; ++d) same = t.shape[d] == like.shape[d];
  if (!same)
    throw Error(name + ": expected shape " + shape_string(like.shape, rank) + " (" + like_name + "), got " +
                shape_string(t));
}

// Offset in elements of leading index `row` (row-major over `lead` extents).
int64_t row_offset(const TensorRef& t, const int64_t* lead, int lead_rank, int64_t row) {
  int64_t off = 0;
  for (int d = lead_rank - 1; d >= 0; --d) {
    off += (row % lead[d]) * t.stride[d];
    row /= lead[d];
  }
  return off;
}

}  // namespace

MergeShape check_merge_states(const std::vector<TensorRef>& o_parts, const std::vector<TensorRef>& lse_parts,
                              const TensorRef& o, const TensorRef& lse) {
  if (o_parts.empty()) throw Error("num_parts: must be >= 1, got 0");
  if (o_parts.size() != lse_parts.size())
    throw Error("lse_parts: expected " + std::to_string(o_parts.size()) + " tensors (one per o_parts), got " +
                std::to_string(lse_parts.size()));
  if (!o.present()) throw Error("o: required (the merged output) but not given");
  check_extents("o", o);
  check_float("o", o);
  if (o.rank < 2)
    throw Error("o: expected a rank-2 to rank-4 tensor [..., Dv], got shape " + shape_string(o));
  check_addressing("o", o);
  const int lead_rank = o.rank - 1;
  for (size_t i = 0; i < o_parts.size(); ++i) {
    const std::string on = "o_parts[" + std::to_string(i) + "]", ln = "lse_parts[" + std::to_string(i) + "]";
    if (!o_parts[i].present()) throw Error(on + ": required but not given");
    if (!lse_parts[i].present()) throw Error(ln + ": required but not given");
    check_extents(on, o_parts[i]);
    check_extents(ln, lse_parts[i]);
    check_float(on, o_parts[i]);
    if (lse_parts[i].type != ElemType::f32)
      throw Error(ln + ": expected dtype f32, got " + std::string(elem_name(lse_parts[i].type)));
    check_shape(on, o_parts[i], o, o.rank, "that of o");
    check_shape(ln, lse_parts[i], o, lead_rank, "the leading extents of o");
    check_addressing(on, o_parts[i]);
    check_addressing(ln, lse_parts[i]);
  }
  if (lse.present()) {
    check_extents("lse", lse);
    if (lse.type != ElemType::f32) throw Error("lse: expected dtype f32, got " + std::string(elem_name(lse.type)));
    check_shape("lse", lse, o, lead_rank, "the leading extents of o");
    check_addressing("lse", lse);
  }

  return MergeShape{lead_rank, TensorRef::checked_numel(o.shape, lead_rank), o.shape[lead_rank]};
}

void merge_states(const std::vector<TensorRef>& o_parts, const std::vector<TensorRef>& lse_parts, const TensorRef& o,
                  const TensorRef& lse) {
  const auto [lead_rank, rows, dv] = check_merge_states(o_parts, lse_parts, o, lse);
  if (rows == 0) return;
  const size_t n = o_parts.size();
  std::vector<Load> load(n);
  for (size_t i = 0; i < n; ++i) load[i] = loader(o_parts[i].type);
  const Store store = storer(o.type);
  const int64_t o_es = int64_t(elem_size(o.type));
  std::vector<double> lse_row(n), acc(size_t(dv > 0 ? dv : 0));
  constexpr double kInf = std::numeric_limits<double>::infinity();
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

  for (int64_t r = 0; r < rows; ++r) {
    // Every input of the row is read before anything is written, so the
    // output may be one of the parts.
    double m = -kInf;
    bool invalid = false;
    for (size_t i = 0; i < n; ++i) {
      const double l = lse_parts[i].ptr<float>()[row_offset(lse_parts[i], o.shape, lead_rank, r)];
      lse_row[i] = l;
      invalid = invalid || std::isnan(l) || l == kInf;
      if (l > m) m = l;
    }
    double merged_lse;
    if (invalid) {
      std::fill(acc.begin(), acc.end(), kNaN);
      merged_lse = kNaN;
    } else if (m == -kInf) {
      std::fill(acc.begin(), acc.end(), 0.0);
      merged_lse = -kInf;
    } else {
      std::fill(acc.begin(), acc.end(), 0.0);
      double sum = 0;
      for (size_t i = 0; i < n; ++i) {
        if (lse_row[i] == -kInf) continue;  // an empty part: its O is not read
        const double w = std::exp(lse_row[i] - m);
        sum += w;
        // Offsets of elements that exist only: an extent-1 axis may have any
        // stride, and an O without columns any strides and no data pointer.
        if (dv == 0) continue;
        const TensorRef& p = o_parts[i];
        const int64_t row = row_offset(p, o.shape, lead_rank, r), es = int64_t(elem_size(p.type));
        for (int64_t d = 0; d < dv; ++d)
          acc[size_t(d)] += w * load[i](static_cast<const char*>(p.data) + (row + d * p.stride[lead_rank]) * es);
      }
      for (double& a : acc) a /= sum;  // sum >= 1: the part at the maximum weighs 1
      merged_lse = m + std::log(sum);
    }
    if (dv > 0) {
      const int64_t out_row = row_offset(o, o.shape, lead_rank, r);
      for (int64_t d = 0; d < dv; ++d)
        store(static_cast<char*>(const_cast<void*>(o.data)) + (out_row + d * o.stride[lead_rank]) * o_es,
              acc[size_t(d)]);
    }
    if (lse.present()) lse.mut<float>()[row_offset(lse, o.shape, lead_rank, r)] = float(merged_lse);
  }
}

}  // namespace attngen
