// A decode step (Sq 1, and 2) of every GQA group size from 1 to 8, and 16, on
// every backend against the float64 reference. A KV head's rows are Sq x G,
// and each backend switches paths on that count: x86 reads K and V in place
// for tiles of up to TilePlan::direct_tile_rows rows (16 or 32), the llvm
// kernel takes its decode path for up to AG_DEC_ROWS live rows, in passes of 4
// (templates/llvm/attention_cpu.cpp). The backend sweep's smoke lengths meet
// Sq 1 only at groups 1 and 4, and its groups stop at 8.
#include <gtest/gtest.h>

#include <string>

#include "runtime/core/backend.hpp"
#include "tests/regression_specs.hpp"
#include "tools/common/kernel_calls.hpp"
#include "tools/common/workload.hpp"

namespace attngen {
namespace {

class DecodeGroups : public ::testing::TestWithParam<std::string> {};

TEST_P(DecodeGroups, EveryGroupSizeMatchesTheReference) {
  for (const char* dtype : {"bf16", "f32"})
    for (int group : {1, 2, 3, 4, 5, 6, 7, 8, 16}) {
      if (std::string(dtype) == "f32" && group != 6 && group != 8 && group != 16) continue;  // f32: loads differ only
      // Every kind of per-row work: padding (empty entries), a window, an
      // additive mask, softcap and ALiBi (per head), LSE out.
      const Spec spec = parse_spec(std::string(R"({"dtype": ")") + dtype + R"(", "head_dim": 64, "num_heads": )" +
                                   std::to_string(2 * group) + R"(, "num_kv_heads": 2, "return_lse": true,
        "score_mod": [{"type": "softcap", "cap": 20.0}, {"type": "alibi"}],
        "mask": [{"type": "padding"}, {"type": "sliding_window", "left": 100, "right": 0, "align": "bottom_right"},
                 {"type": "custom", "format": "additive"}]})");
      const std::unique_ptr<Kernel> kernel = select_backend(GetParam(), spec).compile(spec);
      for (int64_t sq : {1, 2}) {
        SCOPED_TRACE(std::string(dtype) + " group " + std::to_string(group) + " Sq " + std::to_string(sq));
        WorkloadOptions opt;
        opt.batch = 3, opt.sq = sq, opt.skv = 131, opt.seed = 77 + group;
        Workload w(spec, opt);
        run_on_host_tensors(*kernel, w.args(), RunOptions{1});
        const Comparison c = compare_with_reference(w, w.o(), &w.lse());
        EXPECT_TRUE(c.rel_err <= default_tolerance(spec.dtype) && c.nonfinite == 0 && c.empty_rows_nonzero == 0 &&
                    c.lse_mismatched_empty == 0 && c.lse_max_abs_err <= 1e-3)
            << c.summary();
      }
    }
}

INSTANTIATE_TEST_SUITE_P(Backends, DecodeGroups, ::testing::ValuesIn(testing::swept_backends()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace attngen
