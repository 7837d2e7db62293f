#include "codegen/x86/peak_kernel.hpp"

#include "codegen/x86/cpu.hpp"

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

namespace attngen::x86 {

PeakKernel::PeakKernel(PeakOp op, int accumulators)
    : JitGenerator("peak", op == PeakOp::fma_f32_ymm ? Isa::avx2 : Isa::avx512), op_(op), acc_(accumulators) {
  finish_generation();
}

double PeakKernel::flops_per_iteration() const {
  switch (op_) {
    case PeakOp::fma_f32_ymm: return 4.0 * acc_ * 8 * 2;
    case PeakOp::fma_f32_zmm: return 4.0 * acc_ * 16 * 2;
    case PeakOp::dot_bf16_zmm: return 4.0 * acc_ * 32 * 2;  // 16 lanes x 2 products x (mul + add)
  }
  return 0;
}

void PeakKernel::generate() {
  using namespace Xbyak;
  const bool zmm = op_ != PeakOp::fma_f32_ymm;
  const int a = zmm ? 30 : 14, b = zmm ? 31 : 15;
  auto zero = [&](int i) { zmm ? vpxord(Zmm(i), Zmm(i), Zmm(i)) : vxorps(Ymm(i), Ymm(i), Ymm(i)); };
  for (int i = 0; i < acc_; ++i) zero(i);
  zero(a);
  zero(b);
  Label loop, done;
  test(rdi, rdi);
  jz(done, T_NEAR);
  L(loop);
  for (int u = 0; u < 4; ++u)
    for (int i = 0; i < acc_; ++i) {
      if (op_ == PeakOp::dot_bf16_zmm) vdpbf16ps(Zmm(i), Zmm(a), Zmm(b));
      else if (zmm) vfmadd231ps(Zmm(i), Zmm(a), Zmm(b));
      else vfmadd231ps(Ymm(i), Ymm(a), Ymm(b));
    }
  dec(rdi);
  jnz(loop, T_NEAR);
  L(done);
  vzeroupper();
  ret();
}

ReadKernel::ReadKernel(Isa isa) : JitGenerator("read", isa) { finish_generation(); }

void ReadKernel::generate() {
  Xbyak::Label loop, done;
  test(rsi, rsi);
  jle(done, T_NEAR);
  L(loop);
  for (int i = 0; i < 8; ++i) vmovups(vmm(i), ptr[rdi + i * vbytes()]);
  add(rdi, 8 * vbytes());
  sub(rsi, 8 * vbytes());
  jg(loop, T_NEAR);
  L(done);
  vzeroupper();
  ret();
}

double measure_read_gbps(int64_t bytes, int threads, double seconds) {
  const ReadKernel k(cpu_info().isa == Isa::avx512 ? Isa::avx512 : Isa::avx2);
  bytes = std::max<int64_t>(k.step_bytes(), bytes / k.step_bytes() * k.step_bytes());
  std::vector<std::vector<char>> buffers(static_cast<size_t>(threads));
  std::vector<std::thread> pool;
  for (auto& b : buffers) pool.emplace_back([&b, bytes] { b.assign(size_t(bytes), 1); });  // first touch by its reader
  for (auto& t : pool) t.join();
  auto fn = k.fn();
  // Passes per measurement: about `seconds` on one thread.
  int64_t passes = 1;
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t p = 0; p < passes; ++p) fn(buffers[0].data(), bytes);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (dt > seconds / 4) {
      passes = std::max<int64_t>(1, int64_t(double(passes) * seconds / dt));
      break;
    }
    passes *= 2;
  }
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    pool.clear();
    const auto t0 = std::chrono::steady_clock::now();
    for (int t = 1; t < threads; ++t)
      pool.emplace_back([&, t] {
        for (int64_t p = 0; p < passes; ++p) fn(buffers[size_t(t)].data(), bytes);
      });
    for (int64_t p = 0; p < passes; ++p) fn(buffers[0].data(), bytes);
    for (auto& t : pool) t.join();
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, double(bytes) * double(passes) * threads / dt / 1e9);
  }
  return best;
}

double measure_peak_gflops(PeakOp op, int threads, double seconds) {
  const int acc = op == PeakOp::fma_f32_ymm ? 12 : 24;  // vdpbf16ps needs more chains to hide its latency
  const PeakKernel k(op, acc);
  auto fn = k.fn();
  fn(20000);  // warm up clocks and caches
  // Calibrate the iteration count to about `seconds` on one thread.
  int64_t iters = 100000;
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    fn(iters);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (dt > seconds / 4) {
      iters = int64_t(double(iters) * seconds / dt);
      break;
    }
    iters *= 4;
  }
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back([&] { fn(iters); });
    fn(iters);
    for (auto& t : pool) t.join();
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, double(iters) * k.flops_per_iteration() * threads / dt / 1e9);
  }
  return best;
}

}  // namespace attngen::x86
