// The generated measuring loops behind `attngen peak` and `attngen bench`'s
// efficiencies: they generate, run (for a few milliseconds, not as a
// benchmark) and report positive rates; the iteration counts are what the
// loops promise.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "codegen/x86/cpu.hpp"
#include "codegen/x86/peak_kernel.hpp"

namespace attngen::x86 {
namespace {

TEST(Peak, MeasuringLoopsGenerateRunAndReportPositiveRates) {
  const CpuInfo& cpu = cpu_info();
  if (cpu.isa == Isa::none) GTEST_SKIP() << "no x86 code generation here: " << cpu.why_not;
  std::vector<PeakOp> ops = {PeakOp::fma_f32_ymm};
  if (cpu.isa == Isa::avx512) ops.push_back(PeakOp::fma_f32_zmm);
  if (cpu.isa == Isa::avx512 && cpu.avx512_bf16) ops.push_back(PeakOp::dot_bf16_zmm);
  for (PeakOp op : ops) {
    const double g = measure_peak_gflops(op, 2, 0.002);
    EXPECT_TRUE(std::isfinite(g) && g > 0) << int(op) << ": " << g;
  }
  const double gbps = measure_read_gbps(64 << 10, 2, 0.002);
  EXPECT_TRUE(std::isfinite(gbps) && gbps > 0) << gbps;

  const PeakKernel k(PeakOp::fma_f32_ymm, 3);
  EXPECT_EQ(k.flops_per_iteration(), 4.0 * 3 * 8 * 2);
  k.fn()(0);  // no iteration: returns at once
  k.fn()(5);
  const ReadKernel r(Isa::avx2);
  EXPECT_EQ(r.step_bytes(), 8 * 32);
  std::vector<float> buf(size_t(r.step_bytes()) / 4 * 3, 1.f);
  r.fn()(buf.data(), 0);
  r.fn()(buf.data(), int64_t(buf.size()) * 4);
}

}  // namespace
}  // namespace attngen::x86
