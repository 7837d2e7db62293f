// attngen verify SPEC: compile the spec, run it on random tensors (NaN at
// padded positions, poisoned outputs), compare with the float64 reference and
// print the error and the times. Exit status 1 when the error exceeds the
// dtype's tolerance, any output is not finite, or a fully masked row is not 0.
#include <chrono>
#include <cstdio>
#include <new>
#include <optional>

#include "codegen/spec/spec.hpp"
#include "runtime/cache/kernel_cache.hpp"
#include "runtime/core/backend.hpp"
#include "tools/attngen/cli_checks.hpp"
#include "tools/attngen/commands.hpp"
#include "tools/common/kernel_calls.hpp"
#include "tools/common/workload.hpp"

namespace attngen::cli {
namespace {

struct VerifyFlags {
  std::string spec, backend = "auto";
  int64_t batch = 2, sq = 0, skv = 0;
  uint64_t seed = 1;
  int threads = 0;
};

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void verify(const VerifyFlags& f) {
  const Spec spec = load_spec_file(f.spec);
  WorkloadOptions opt;
  opt.batch = f.batch;
  opt.sq = f.sq ? f.sq : spec.seq_len_q.value_or(100);
  opt.skv = f.skv ? f.skv : spec.seq_len_kv.value_or(opt.sq + 29);
  opt.seed = f.seed;
  // Extents come from the command line: checked against the machine first,
  // and an allocation that fails anyway says what it was for.
  check_workload_fits("verify", spec, opt);
  std::optional<Workload> workload;
  try {
    workload.emplace(spec, opt);
  } catch (const std::bad_alloc&) {
    throw Error("verify: out of memory allocating the random tensors for B=" + std::to_string(opt.batch) +
                " Sq=" + std::to_string(opt.sq) + " Skv=" + std::to_string(opt.skv) +
                "; choose a smaller --batch, --q-len or --kv-len");
  }
  Workload& w = *workload;

  auto t0 = std::chrono::steady_clock::now();
  // Through the kernel cache, so ATTNGEN_VERBOSE, _DUMP and _DISABLE_JIT apply.
  KernelSource source;
  const auto kernel = process_cache().get(spec, select_backend(f.backend, spec), &source);
  const double kernel_ms = ms_since(t0);
  t0 = std::chrono::steady_clock::now();
  run_on_host_tensors(*kernel, w.args(), RunOptions{f.threads});  // cuda: copied to the device and back
  const double run_ms = ms_since(t0);
  t0 = std::chrono::steady_clock::now();
  const Comparison c = compare_with_reference(w, w.o(), spec.return_lse ? &w.lse() : nullptr, f.threads);
  const double ref_ms = ms_since(t0);

  const double tol = default_tolerance(spec.dtype);
  const bool ok = c.rel_err <= tol && c.nonfinite == 0 && c.empty_rows_nonzero == 0 && c.lse_mismatched_empty == 0 &&
                  (!c.lse_compared || c.lse_max_abs_err <= 1e-3);
  std::printf("spec      %s\nkey       %s\nbackend   %s (isa %s)\n", f.spec.c_str(), kernel->key().c_str(),
              kernel->backend().c_str(), kernel->isa().c_str());
  std::printf("problem   B=%lld Sq=%lld Skv=%lld Hq=%d Hkv=%d D=%d Dv=%d dtype=%s layout=%s\n", (long long)opt.batch,
              (long long)opt.sq, (long long)opt.skv, spec.num_heads, spec.num_kv_heads, spec.head_dim, spec.head_dim_v,
              elem_name(spec.dtype), layout_name(spec.layout));
  std::printf("error     %s\ntolerance rel_err <= %g\n", c.summary().c_str(), tol);
  std::printf("time      kernel %.3f ms (%s), run %.3f ms, reference %.3f ms\n", kernel_ms, source_name(source), run_ms,
              ref_ms);
  std::printf("result    %s\n", ok ? "PASS" : "FAIL");
  if (!ok) throw ExitStatus{1};
}

}  // namespace

void add_verify(CLI::App& app) {
  auto* cmd = app.add_subcommand("verify", "Run a spec on random tensors and compare with the float64 reference");
  auto f = std::make_shared<VerifyFlags>();
  cmd->add_option("spec", f->spec, "Spec JSON file")->required();
  cmd->add_option("--backend", f->backend, "auto, or a backend name (see `attngen check`)");
  cmd->add_option("--batch", f->batch, "Batch size")->transform(integer_in(1, INT64_MAX));
  cmd->add_option("--q-len", f->sq, "Query sequence extent (default: the spec's, else 100)")
      ->transform(integer_in(1, INT64_MAX));
  cmd->add_option("--kv-len", f->skv, "Key sequence extent (default: the spec's, else q-len + 29)")
      ->transform(integer_in(1, INT64_MAX));
  cmd->add_option("--seed", f->seed, "Random seed")->transform(integer_in(0, INT64_MAX));
  cmd->add_option("--threads", f->threads, "Threads (0 = all hardware threads)")->transform(integer_in(0, INT32_MAX));
  cmd->callback([f] { verify(*f); });
}

}  // namespace attngen::cli
