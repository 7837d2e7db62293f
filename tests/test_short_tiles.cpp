// Short query blocks (speculative decoding, small prefill chunks, GQA decode
// steps): tiles of 9 to 32 rows, and of 64 and 96 rows alone on their KV
// head, on every backend against the float64 reference. On AVX-512 the x86
// backend puts such tiles' rows in vector lanes (codegen/x86/lanes_kernels.hpp)
// when they fill enough of a 16- or 32-row pass, else reads K and V in 4-row
// passes (or packs them); on the vdpbf16ps plan (bf16, AMD) the 4-row passes
// multiply bf16 pairs in place. The test checks that every one of these paths
// ran in every dtype. The backend sweep's reduced lengths reach lanes tiles only
// in f32 and at few row counts.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "codegen/x86/cpu.hpp"
#include "runtime/core/backend.hpp"
#include "runtime/x86/x86_kernel.hpp"
#include "tests/regression_specs.hpp"
#include "tools/common/kernel_calls.hpp"
#include "tools/common/workload.hpp"

namespace attngen {
namespace {

class ShortTiles : public ::testing::TestWithParam<std::string> {};

TEST_P(ShortTiles, EveryRowCountMatchesTheReference) {
  struct Case {
    int64_t sq;
    int group;
  };
  // Rows of a tile = Sq x group: 9, 13, 15, 16, 24, 28, 30, 32, 32; then 64
  // and 96, tiles alone on their KV head (lanes up to 64 rows in f16/bf16, 96 in f32).
  const Case cases[] = {{9, 1}, {13, 1}, {15, 1}, {4, 4}, {3, 8}, {7, 4}, {15, 2}, {8, 4}, {4, 8}, {16, 4}, {24, 4}};
  // {72, 40} and {33, 17}: tails of vectors along D and Dv.
  const std::pair<int, int> dims[] = {{64, 64}, {72, 40}, {33, 17}};
  std::set<std::string> paths;  // x86: "<dtype> lanes16|lanes32|4-row"
  int n = 0;
  for (const char* dtype : {"f32", "f16", "bf16"})
    for (const Case& c : cases) {
      const auto [d, dv] = dims[n % 3];
      const bool bshd = n % 2 == 1;
      ++n;
      // Every kind of per-row work: padding (empty entries, NaN past the
      // lengths), a window, an additive mask, softcap and ALiBi, LSE out.
      const Spec spec = parse_spec(std::string(R"({"dtype": ")") + dtype + R"(", "head_dim": )" + std::to_string(d) +
                                   R"(, "head_dim_v": )" + std::to_string(dv) + R"(, "num_heads": )" +
                                   std::to_string(2 * c.group) + R"(, "num_kv_heads": 2, "return_lse": true,
        "layout": ")" + (bshd ? "bshd" : "bhsd") + R"(",
        "score_mod": [{"type": "softcap", "cap": 20.0}, {"type": "alibi"}],
        "mask": [{"type": "padding"}, {"type": "sliding_window", "left": 150, "right": 0, "align": "bottom_right"},
                 {"type": "custom", "format": "additive"}]})");
      const std::unique_ptr<Kernel> kernel = select_backend(GetParam(), spec).compile(spec);
      if (const auto* x = dynamic_cast<const x86::X86Kernel*>(kernel.get())) {
        const TilePlan& plan = x->plan();
        const int64_t rows = c.sq * c.group;
        const bool alone = rows > plan.direct_tile_rows;  // one tile per KV head in every case here
        const int lanes = plan.lane_rows(rows, alone);
        bool in_place = false;  // the kernel has the in-place code (every plan on AVX-512, vdpbf16ps included)
        for (const Kernel::CodeBlob& blob : x->code_blobs()) in_place = in_place || blob.name == "qk_direct.bin";
        paths.insert(std::string(dtype) + (lanes ? " lanes" + std::to_string(lanes) + (alone ? " alone" : "")
                                                 : alone || !in_place ? " packed" : " 4-row"));
      }
      for (int64_t skv : {131, 64}) {  // a last block of 3 keys; one whole block
        for (int threads : {1, 2}) {    // 2: the keys of each tile split in two
          SCOPED_TRACE(std::string(dtype) + " Sq " + std::to_string(c.sq) + " group " + std::to_string(c.group) +
                       " D " + std::to_string(d) + " Dv " + std::to_string(dv) + " Skv " + std::to_string(skv) +
                       " threads " + std::to_string(threads));
          WorkloadOptions opt;
          opt.batch = 3, opt.sq = c.sq, opt.skv = skv, opt.seed = uint64_t(500 + n);
          Workload w(spec, opt);
          run_on_host_tensors(*kernel, w.args(), RunOptions{threads});
          const Comparison cmp = compare_with_reference(w, w.o(), &w.lse());
          EXPECT_TRUE(cmp.rel_err <= default_tolerance(spec.dtype) && cmp.nonfinite == 0 &&
                      cmp.empty_rows_nonzero == 0 && cmp.lse_mismatched_empty == 0 && cmp.lse_max_abs_err <= 1e-3)
              << cmp.summary();
        }
      }
    }
  if (GetParam() != "x86") return;
  for (const char* dtype : {"f32", "f16", "bf16"}) {
    const TilePlan plan = x86::X86Kernel::host_plan(
        parse_spec(std::string(R"({"dtype": ")") + dtype + R"(", "head_dim": 64, "num_heads": 1})"));
    if (plan.lanes_min_fill > 0) {
      for (const char* path : {" lanes16", " lanes32", " lanes32 alone"}) {
        EXPECT_TRUE(paths.count(dtype + std::string(path))) << dtype << path << " was not run";
      }
    }
    // Tiles of 9 and 24 rows fill too little of a pass for lanes in f16/bf16;
    // 96 rows alone take the packs there. The vdpbf16ps plan has no lanes
    // path: its 4-row passes multiply bf16 pairs in place.
    if (plan.lanes_min_fill > 75 || plan.bf16_dot) {
      EXPECT_TRUE(paths.count(dtype + std::string(" 4-row"))) << dtype << " 4-row was not run";
      EXPECT_TRUE(paths.count(dtype + std::string(" packed"))) << dtype << " packed was not run";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, ShortTiles, ::testing::ValuesIn(testing::swept_backends()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace attngen
