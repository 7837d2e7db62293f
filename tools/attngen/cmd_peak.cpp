// attngen peak: this machine's arithmetic ceilings, measured with generated
// loops of independent accumulators, and its memory read bandwidth (from DRAM
// and from the last-level cache), for one thread and for all threads.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "codegen/x86/cpu.hpp"
#include "codegen/x86/peak_kernel.hpp"
#include "runtime/core/backend.hpp"
#include "tools/attngen/commands.hpp"

namespace attngen::cli {

nlohmann::json measure_peaks(int threads_all) {
  using x86::PeakOp;
  const x86::CpuInfo& cpu = x86::cpu_info();
  nlohmann::json j = {{"isa", x86::isa_name(cpu.isa)}, {"features", cpu.features}, {"threads_all", threads_all}};
  if (cpu.isa == x86::Isa::none) return j;
  auto both = [&](const char* name, PeakOp op) {
    j[name] = {{"gflops_1_thread", x86::measure_peak_gflops(op, 1)},
               {"gflops_all_threads", x86::measure_peak_gflops(op, threads_all)}};
  };
  both("f32_fma_ymm", PeakOp::fma_f32_ymm);
  if (cpu.isa == x86::Isa::avx512) both("f32_fma_zmm", PeakOp::fma_f32_zmm);
  if (cpu.isa == x86::Isa::avx512 && cpu.avx512_bf16) both("bf16_dot_zmm", PeakOp::dot_bf16_zmm);
  // Memory reads: a working set far larger than any last-level cache (DRAM),
  // and one of 16 MiB per thread (past L2, within the L3 of server CPUs).
  auto read = [&](const char* name, int64_t bytes) {
    j[name] = {{"bytes_per_thread", bytes},
               {"gbps_1_thread", x86::measure_read_gbps(bytes, 1)},
               {"gbps_all_threads", x86::measure_read_gbps(bytes, threads_all)}};
  };
  read("read_dram", int64_t(1) << 30);
  read("read_llc", int64_t(16) << 20);
  return j;
}

void add_peak(CLI::App& app) {
  auto* cmd = app.add_subcommand("peak", "Measure this machine's f32 FMA (and bf16 dot) ceilings");
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "Print one JSON object");
  cmd->callback([json] {
    const nlohmann::json j = measure_peaks(hardware_threads());
    if (*json) {
      std::printf("%s\n", j.dump().c_str());
      return;
    }
    std::printf("isa %s (features: %s)\n", j["isa"].get<std::string>().c_str(), j["features"].get<std::string>().c_str());
    for (const char* k : {"f32_fma_ymm", "f32_fma_zmm", "bf16_dot_zmm"})
      if (j.contains(k))
        std::printf("%-13s %8.1f GFLOP/s on 1 thread, %8.1f GFLOP/s on %d threads\n", k,
                    j[k]["gflops_1_thread"].get<double>(), j[k]["gflops_all_threads"].get<double>(),
                    j["threads_all"].get<int>());
    for (const char* k : {"read_dram", "read_llc"})
      if (j.contains(k))
        std::printf("%-13s %8.1f GB/s    on 1 thread, %8.1f GB/s    on %d threads (%lld MiB per thread)\n", k,
                    j[k]["gbps_1_thread"].get<double>(), j[k]["gbps_all_threads"].get<double>(),
                    j["threads_all"].get<int>(), (long long)(j[k]["bytes_per_thread"].get<int64_t>() >> 20));
  });
}

}  // namespace attngen::cli
