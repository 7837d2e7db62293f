// Softcap over its whole valid range: caps from 1e-3 to past the f32 range,
// on every x86 code path and the llvm backend, against the float64 reference (the vectorised tanh
// once lost precision for small arguments, so the error grew with the cap).
#include <gtest/gtest.h>

#include <sstream>

#include "runtime/llvm/llvm_backend.hpp"
#include "runtime/x86/x86_backend.hpp"
#include "tools/common/workload.hpp"

namespace attngen {
namespace {

void expect_accurate_for_every_cap(const Backend& backend) {
  if (!backend.unavailable_reason().empty()) GTEST_SKIP() << backend.unavailable_reason();
  const double caps[] = {1e-3, 0.1, 1, 5, 30, 50, 1e4, 1e8, 1e20, 1e30, 1e38, 1e300};
  int n = 0;
  for (double cap : caps)
    for (const char* dtype : {"f32", "bf16"}) {
      std::ostringstream json;
      json.precision(17);
      json << R"({"dtype":")" << dtype << R"(","head_dim":72,"num_heads":4,"num_kv_heads":2,"return_lse":true,)"
           << R"("mask":[{"type":"causal","align":"bottom_right"}],"score_mod":[{"type":"softcap","cap":)" << cap << "}]}";
      const Spec spec = parse_spec(json.str());
      WorkloadOptions opt;
      opt.batch = 2, opt.sq = n % 2 ? 1 : 67, opt.skv = 131, opt.seed = 300 + uint64_t(n++);
      Workload w(spec, opt);
      SCOPED_TRACE(backend.name() + " " + json.str() + " Sq " + std::to_string(opt.sq));
      backend.compile(spec)->run(w.args(), RunOptions{2});
      const Comparison c = compare_with_reference(w, w.o(), &w.lse());
      EXPECT_LE(c.rel_err, default_tolerance(spec.dtype)) << c.summary();
      EXPECT_EQ(c.nonfinite, 0) << c.summary();
      EXPECT_LE(c.lse_max_abs_err, 1e-3) << c.summary();
    }
}

TEST(Softcap, X86AccurateForEveryCap) { expect_accurate_for_every_cap(x86_backend()); }
TEST(Softcap, LlvmAccurateForEveryCap) { expect_accurate_for_every_cap(llvm_backend()); }

}  // namespace
}  // namespace attngen
