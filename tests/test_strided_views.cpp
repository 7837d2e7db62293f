// Q, K, V and O as views whose head-dim stride is not 1 (docs/api.md:
// "strides may be anything"): every other element (stride 2, NaN in the gaps
// of the inputs), and the head dim reversed (stride -1). Each backend must
// give the reference's result and leave O's gaps as they were. The sweeps
// pass contiguous rows only, so the paths that gather strided rows run here:
// decode steps of GQA groups and tiles of many rows, every dtype, head dims
// with and without vector tails.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>

#include "runtime/core/backend.hpp"
#include "tests/regression_specs.hpp"
#include "tools/common/kernel_calls.hpp"
#include "tools/common/workload.hpp"

namespace attngen {
namespace {

// A copy of a rank-4 tensor [a, b, c, D] whose innermost stride is `step`
// (2 or -1); the gaps hold the bytes of `fill`.
class StridedCopy {
 public:
  StridedCopy(const TensorRef& t, int64_t step, uint16_t fill) : ref_(t), step_(step) {
    const int64_t d = t.shape[3], width = d * (step < 0 ? -step : step);
    const int64_t rows = t.shape[0] * t.shape[1] * t.shape[2];
    buf_.assign(size_t(rows * width) * elem_size(t.type) / 2, fill);
    ref_.stride[3] = step;
    ref_.stride[2] = width;
    ref_.stride[1] = width * t.shape[2];
    ref_.stride[0] = width * t.shape[2] * t.shape[1];
    ref_.data = bytes() + (step < 0 ? (d - 1) * elem_size(t.type) : 0);
    for_each([&](const char* dense, char* strided) { std::memcpy(strided, dense, elem_size(t.type)); }, t);
  }
  const TensorRef& ref() const { return ref_; }

  // Back into the dense tensor `t` (the workload's own O).
  void copy_to(const TensorRef& t) const {
    for_each([&](const char* dense, char* strided) { std::memcpy(const_cast<char*>(dense), strided, elem_size(t.type)); },
             t);
  }
  // Elements of the buffer that are not part of the view and differ from `fill`.
  int64_t gaps_changed(uint16_t fill) const {
    std::vector<bool> in_view(buf_.size() * 2 / elem_size(ref_.type));
    for_each([&](const char*, char* strided) { in_view[size_t(strided - bytes()) / elem_size(ref_.type)] = true; },
             ref_);
    int64_t changed = 0;
    for (size_t e = 0; e < in_view.size(); ++e) {
      if (in_view[e]) continue;
      const size_t size = elem_size(ref_.type), first = e * size / 2;
      for (size_t h = 0; h < size / 2; ++h) changed += buf_[first + h] != fill;
    }
    return changed;
  }

 private:
  char* bytes() const { return reinterpret_cast<char*>(const_cast<uint16_t*>(buf_.data())); }
  // f(dense element of t, the same element of this view), t dense C-order [a, b, c, D].
  template <class F>
  void for_each(F f, const TensorRef& t) const {
    const size_t size = elem_size(t.type);
    for (int64_t i0 = 0; i0 < t.shape[0]; ++i0)
      for (int64_t i1 = 0; i1 < t.shape[1]; ++i1)
        for (int64_t i2 = 0; i2 < t.shape[2]; ++i2)
          for (int64_t x = 0; x < t.shape[3]; ++x) {
            const int64_t dense = i0 * t.stride[0] + i1 * t.stride[1] + i2 * t.stride[2] + x * t.stride[3];
            const int64_t view = i0 * ref_.stride[0] + i1 * ref_.stride[1] + i2 * ref_.stride[2] + x * step_;
            f(static_cast<const char*>(t.data) + dense * int64_t(size),
              static_cast<char*>(const_cast<void*>(ref_.data)) + view * int64_t(size));
          }
  }

  TensorRef ref_;
  int64_t step_;
  std::vector<uint16_t> buf_;  // (elements are 2 or 4 bytes)
};

class StridedViews : public ::testing::TestWithParam<std::string> {};

TEST_P(StridedViews, HeadDimStridesOtherThanOneMatchTheReference) {
  const char* specs[] = {"causal_bottom_right_lse.json", "padding.json", "everything.json"};
  struct Shape {
    int64_t sq, skv;
    int gqa;
  };
  // A decode step of a GQA group, a few rows, a tile of many rows.
  const Shape shapes[] = {{1, 129, 4}, {3, 65, 2}, {65, 129, 1}};
  const int dims[][2] = {{64, 64}, {72, 40}, {32, 32}};
  const char* dtypes[] = {"f32", "f16", "bf16"};
  const uint16_t kNaN16 = 0x7e00, kNaN32Half = 0x7fc0;  // f16 NaN; the upper half of an f32 NaN (both halves)
  const uint16_t kSentinel = 0x3c00;                    // f16 1.0, or the two halves of an f32 (0x3c003c00)
  size_t n = 0;
  for (const char* file : specs)
    for (const Shape& sh : shapes) {
      // Nine configurations: every dtype with every pair of head dims.
      const size_t k = n++;
      nlohmann::json j = testing::load_regression_spec(file);
      j["dtype"] = dtypes[k % 3];
      j["head_dim"] = dims[k / 3 % 3][0];
      j["head_dim_v"] = dims[k / 3 % 3][1];
      j["num_kv_heads"] = 2;
      j["num_heads"] = 2 * sh.gqa;
      j["layout"] = k % 2 ? "bshd" : "bhsd";
      const Spec spec = parse_spec(j.dump());
      const std::unique_ptr<Kernel> kernel = select_backend(GetParam(), spec).compile(spec);
      for (int64_t step : {int64_t(2), int64_t(-1)}) {
        WorkloadOptions opt;
        opt.batch = 2;
        opt.sq = sh.sq, opt.skv = sh.skv;
        opt.seed = 300 + k;
        Workload w(spec, opt);
        std::ostringstream what;
        what << GetParam() << " " << file << " " << j["dtype"].get<std::string>() << " Sq " << sh.sq << " Skv "
             << sh.skv << " Hq " << spec.num_heads << " D " << spec.head_dim << " Dv " << spec.head_dim_v << " "
             << j["layout"].get<std::string>() << " head-dim stride " << step;
        SCOPED_TRACE(what.str());
        AttentionArgs a = w.args();
        const uint16_t nan = spec.dtype == ElemType::f32 ? kNaN32Half : kNaN16;
        const StridedCopy q(a.q, step, nan), kk(a.k, step, nan), v(a.v, step, nan), o(a.o, step, kSentinel);
        a.q = q.ref(), a.k = kk.ref(), a.v = v.ref(), a.o = o.ref();
        run_on_host_tensors(*kernel, a, RunOptions{int(1 + k % 2)});
        EXPECT_EQ(o.gaps_changed(kSentinel), 0) << "O was written outside its view";
        o.copy_to(w.args().o);
        const Comparison c = compare_with_reference(w, w.o(), spec.return_lse ? &w.lse() : nullptr);
        EXPECT_TRUE(c.rel_err <= default_tolerance(spec.dtype) && c.nonfinite == 0 && c.empty_rows_nonzero == 0 &&
                    c.lse_mismatched_empty == 0 && c.lse_max_abs_err <= 1e-3)
            << c.summary();
      }
    }
}

INSTANTIATE_TEST_SUITE_P(Backends, StridedViews, ::testing::ValuesIn(testing::swept_backends()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StridedViews);

}  // namespace
}  // namespace attngen
