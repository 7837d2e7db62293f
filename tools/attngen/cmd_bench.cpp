// attngen bench SPEC: time a backend on one problem shape and report it
// against this machine's peak, measured in the same process (CPU backends;
// cuda: device time from events, no peak). FLOPs count only allowed score
// elements: 2 * (D + Dv) per allowed (query, key) pair.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "codegen/spec/spec.hpp"
#include "codegen/x86/cpu.hpp"
#include "codegen/x86/peak_kernel.hpp"
#include "runtime/core/backend.hpp"
#include "tools/attngen/cli_checks.hpp"
#include "tools/attngen/backend_flags.hpp"
#include "tools/attngen/commands.hpp"
#include "tools/common/kernel_calls.hpp"
#include "tools/common/workload.hpp"

namespace attngen::cli {
namespace {

struct BenchFlags {
  std::string spec, custom = "random";
  BackendFlags backend_flags;
  int64_t batch = 1, sq = 2048, skv = 2048;
  int threads = 1, reps = 5, rotate = 1;
  bool json = false, full_lengths = false, check = false, no_peak = false;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

void bench(const BenchFlags& f) {
  const Spec spec = load_spec_file(f.spec);
  const Backend& backend = f.backend_flags.select(spec);
  WorkloadOptions opt;
  opt.batch = f.batch, opt.sq = f.sq, opt.skv = f.skv;
  opt.full_lengths = f.full_lengths;
  opt.custom = f.custom == "keep_all" ? CustomMaskKind::keep_all
               : f.custom == "block_sparse" ? CustomMaskKind::block_sparse
                                            : CustomMaskKind::random;
  // --rotate N: N problems with their own tensors (an engine's N layers), run
  // in turn, so that K/V come from DRAM rather than from a warm cache.
  std::vector<std::unique_ptr<Workload>> rotation;
  check_workload_fits("bench", spec, opt);
  for (int i = 0; i < f.rotate; ++i) {
    opt.seed = 1 + uint64_t(i);
    rotation.push_back(std::make_unique<Workload>(spec, opt));
  }
  Workload& w = *rotation.front();
  const int threads = f.threads > 0 ? f.threads : hardware_threads();

  std::vector<double> compile_ms;
  // Every compiled kernel stays alive until the end, so no two share an
  // address (perf's JIT map, ATTNGEN_PERF_MAP, would mix their names up).
  // NVRTC takes seconds: a device backend is compiled once.
  const bool device = backend.memory() == Memory::device;
  std::vector<std::unique_ptr<Kernel>> compiled;
  for (int i = 0; i < (device ? 1 : 5); ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    compiled.push_back(backend.compile(spec));
    compile_ms.push_back(ms_between(t0, std::chrono::steady_clock::now()));
  }
  const std::unique_ptr<Kernel>& kernel = compiled.back();
  std::vector<AttentionArgs> args;
  for (auto& r : rotation) args.push_back(r->args());
  // cuda: tensors copied to the device once, calls timed there with events.
  KernelCalls calls(*kernel, args, RunOptions{threads});
  calls.run_all();  // warm-up
  std::vector<double> run_ms;  // per call
  for (int r = 0; r < f.reps; ++r) run_ms.push_back(calls.run_all());
  calls.finish();
  const double allowed = double(w.allowed_elements());
  const double total = double(opt.batch) * spec.num_heads * double(opt.sq) * double(opt.skv);
  const double flops = 2.0 * (spec.head_dim + spec.head_dim_v) * allowed;
  const double ms = median(run_ms);

  // The ceiling that matches the arithmetic the kernel's code uses.
  const x86::CpuInfo& cpu = x86::cpu_info();
  std::string peak_kind = "f32_fma_ymm";
  x86::PeakOp op = x86::PeakOp::fma_f32_ymm;
  if (kernel->isa().find("vdpbf16ps") != std::string::npos) op = x86::PeakOp::dot_bf16_zmm, peak_kind = "bf16_dot_zmm";
  // x86 "avx512..." and llvm "<cpu>/16xf32" kernels run on zmm registers.
  else if (kernel->isa().rfind("avx512", 0) == 0 || kernel->isa().find("/16xf32") != std::string::npos)
    op = x86::PeakOp::fma_f32_zmm, peak_kind = "f32_fma_zmm";
  if (device) peak_kind = "none (GPU)";
  const double peak = cpu.isa == x86::Isa::none || f.no_peak || device ? 0 : x86::measure_peak_gflops(op, threads);
  // K and V bytes of one call (every key of the extents, once): what a
  // memory-bound call (decoding) must read at least.
  const double kv_bytes = double(opt.batch) * spec.num_kv_heads * double(opt.skv) *
                          (spec.head_dim + spec.head_dim_v) * double(elem_size(spec.dtype));

  nlohmann::json j = {{"spec", f.spec},
                      {"key", kernel->key()},
                      {"backend", kernel->backend()},
                      {"isa", kernel->isa()},
                      {"batch", opt.batch},
                      {"q_len", opt.sq},
                      {"kv_len", opt.skv},
                      {"threads", threads},
                      {"reps", f.reps},
                      {"ms_median", ms},
                      {"ms_min", *std::min_element(run_ms.begin(), run_ms.end())},
                      {"gflops", flops / ms / 1e6},
                      {"tflops", flops / ms / 1e9},
                      {"peak_gflops", peak},
                      {"peak_kind", peak_kind},
                      {"efficiency", peak > 0 ? flops / ms / 1e6 / peak : 0.0},
                      {"allowed_fraction", total > 0 ? allowed / total : 0.0},
                      {"rotate", f.rotate},
                      {"kv_bytes", kv_bytes},
                      {"kv_gbps", kv_bytes / ms / 1e6},
                      {"compile_ms", median(compile_ms)}};
  // Workload options that change what is measured, for tables of results.
  std::string extra;
  if (spec.find_mask<CustomMask>()) extra = "custom=" + f.custom;
  if (f.full_lengths) extra += std::string(extra.empty() ? "" : " ") + "full-lengths";
  j["extra"] = extra;
  if (f.check) {
    const Comparison c = compare_with_reference(w, w.o(), nullptr, threads);
    j["rel_err"] = c.rel_err;
  }
  if (f.json) {
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf("%s\n", j.dump(2).c_str());
}

}  // namespace

void add_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Time a backend on one shape; report GFLOP/s against the measured peak");
  auto f = std::make_shared<BenchFlags>();
  cmd->add_option("spec", f->spec, "Spec JSON file")->required();
  f->backend_flags.add_to(cmd, /*with_arch=*/false);
  cmd->add_option("--batch", f->batch, "Batch size")->transform(integer_in(1, INT64_MAX));
  cmd->add_option("--q-len", f->sq, "Query sequence length")->transform(integer_in(1, INT64_MAX));
  cmd->add_option("--kv-len", f->skv, "Key sequence length")->transform(integer_in(1, INT64_MAX));
  cmd->add_option("--threads", f->threads, "Threads (0 = all hardware threads; default 1)")->transform(integer_in(0, INT32_MAX));
  cmd->add_option("--reps", f->reps, "Timed repetitions (the median is reported)")->transform(integer_in(1, INT32_MAX));
  cmd->add_option("--rotate", f->rotate, "Cycle through N problems with their own tensors (K/V from DRAM, as an engine's layers)")
      ->transform(integer_in(1, 4096));
  cmd->add_option("--custom", f->custom, "Custom mask contents: random | keep_all | block_sparse")
      ->check(CLI::IsMember({"random", "keep_all", "block_sparse"}));
  cmd->add_flag("--full-lengths", f->full_lengths, "Padding/prefix lengths equal to the extents");
  cmd->add_flag("--check", f->check, "Also compare the output with the reference (slow)");
  cmd->add_flag("--json", f->json, "Print one line of JSON");
  cmd->add_flag("--no-peak", f->no_peak, "Skip the peak measurement (efficiency is then 0)");
  cmd->callback([f] { bench(*f); });
}

}  // namespace attngen::cli
