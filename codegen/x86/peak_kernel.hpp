// A generated loop of independent multiply-adds that measures this machine's
// arithmetic ceiling (`attngen peak`, and the denominator of every
// efficiency that `attngen bench` reports).
#pragma once

#include <cstdint>

#include "codegen/x86/jit_generator.hpp"

namespace attngen::x86 {

enum class PeakOp { fma_f32_ymm, fma_f32_zmm, dot_bf16_zmm };

class PeakKernel final : public JitGenerator {
 public:
  // `accumulators` independent chains; each iteration issues 4 per chain.
  PeakKernel(PeakOp op, int accumulators);
  using Fn = void (*)(int64_t iterations);
  Fn fn() const { return entry<Fn>(*this); }
  // Floating-point operations one iteration performs.
  double flops_per_iteration() const;

 private:
  void generate() override;
  const PeakOp op_;
  const int acc_;
};

// GFLOP/s of `op` on `threads` threads (each running the loop for ~seconds).
double measure_peak_gflops(PeakOp op, int threads, double seconds = 0.2);

// A generated loop of vector loads over a buffer (8 independent loads of one
// vector each per step, nothing else): the read bandwidth a kernel can hope for.
class ReadKernel final : public JitGenerator {
 public:
  explicit ReadKernel(Isa isa);
  using Fn = void (*)(const void* data, int64_t bytes);  // bytes: a multiple of 8 vectors
  Fn fn() const { return entry<Fn>(*this); }
  int64_t step_bytes() const { return 8 * vbytes(); }

 private:
  void generate() override;
};

// GB/s of reading a working set of `bytes` per thread on `threads` threads
// (each its own buffer, read repeatedly for ~seconds): from DRAM when `bytes`
// exceeds the last-level cache, from that cache when it fits.
double measure_read_gbps(int64_t bytes, int threads, double seconds = 0.2);

}  // namespace attngen::x86
