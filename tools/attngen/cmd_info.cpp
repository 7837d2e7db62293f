// attngen info: version, CPU features, backends (and why any is unavailable),
// NVRTC, the CUDA driver and devices, the cache configuration and the disk
// cache's size.
#include <cstdio>

#include "codegen/x86/cpu.hpp"
#include "runtime/cache/kernel_cache.hpp"
#include "runtime/core/version.hpp"
#include "runtime/cuda/cuda_backend.hpp"
#include "runtime/llvm/llvm_backend.hpp"
#include "tools/attngen/commands.hpp"

namespace attngen::cli {
namespace {

void info() {
  std::printf("attngen     %s (generator %s, %s)\n", kVersion, kGeneratorVersion, toolchain_id().c_str());
  const x86::CpuInfo& cpu = x86::cpu_info();
  std::printf("cpu         %s\n", cpu.features.empty() ? "(no relevant x86 features)" : cpu.features.c_str());
  std::printf("x86 isa     %s%s%s\n", x86::isa_name(cpu.isa), cpu.why_not.empty() ? "" : ": ", cpu.why_not.c_str());
  if (cpu.isa != x86::Isa::none)
    std::printf("x86 bf16    %s\n",
                cpu.bf16_dot ? "vdpbf16ps on bf16 pairs (f32 accumulation and softmax)"
                : cpu.isa == x86::Isa::avx512 && cpu.avx512_bf16
                    ? "f32 FMAs on converted K/V (vdpbf16ps is slower than FMAs on this CPU; ATTNGEN_BF16_DOT=1 forces it)"
                    : "f32 FMAs on converted K/V");
  std::printf("backends\n");
  for (const Backend* b : all_backends()) {
    const std::string why = b->unavailable_reason();
    std::printf("  %-10s %s\n", b->name().c_str(),
                why.empty() ? ("available, isa " + b->isa()).c_str() : ("unavailable: " + why).c_str());
  }
  std::printf("llvm        %s\n", llvmgen::environment_summary().c_str());
  for (const std::string& line : cuda::environment_summary()) std::printf("cuda        %s\n", line.c_str());
  const CacheConfig c = CacheConfig::from_env();
  std::printf("cache       memory capacity %zu kernels (ATTNGEN_CACHE_CAPACITY)\n", c.capacity);
  if (c.dir.empty()) {
    std::printf("disk cache  none (set ATTNGEN_CACHE_DIR, XDG_CACHE_HOME or HOME)\n");
  } else {
    size_t entries = 0;
    uint64_t bytes = 0;
    for (const DiskCache::Listing& l : DiskCache(c.dir).list()) {
      bytes += l.bytes;
      entries += l.entry && l.problem.empty();
    }
    std::printf("disk cache  %s: %zu valid entries, %llu bytes\n", c.dir.c_str(), entries, (unsigned long long)bytes);
  }
  std::printf("jit         %s\n", c.disable_jit ? "disabled (ATTNGEN_DISABLE_JIT=1): cached kernels only" : "enabled");
  std::printf("verbose     %s\ndump        %s\n", c.verbose ? "on" : "off (ATTNGEN_VERBOSE=1)",
              c.dump_dir.empty() ? "off (ATTNGEN_DUMP=DIR)" : c.dump_dir.c_str());
}

}  // namespace

void add_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Version, CPU features, backends, cache directory and size");
  cmd->callback([] { info(); });
}

}  // namespace attngen::cli
