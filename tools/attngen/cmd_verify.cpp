// attngen verify SPEC: compile the spec, run it on random tensors (NaN at
// padded positions, poisoned outputs), compare with the float64 reference and
// print the error and the times. Exit status 1 when the error exceeds the
// dtype's tolerance, any output is not finite, or a fully masked row is not 0.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <new>
#include <optional>

#include "codegen/spec/spec.hpp"
#include "runtime/cache/kernel_cache.hpp"
#include "runtime/core/backend.hpp"
#include "runtime/io/npy.hpp"
#include "runtime/io/output_files.hpp"
#include "tools/attngen/cli_checks.hpp"
#include "tools/attngen/backend_flags.hpp"
#include "tools/attngen/commands.hpp"
#include "tools/common/kernel_calls.hpp"
#include "tools/common/workload.hpp"

namespace attngen::cli {
namespace {

struct VerifyFlags {
  std::string spec, save_dir;
  BackendFlags backend_flags;
  int64_t batch = 2, sq = 0, skv = 0;
  uint64_t seed = 1;
  int threads = 0;
};

// --save DIR: every input under the name `attngen run` takes it by (q.npy,
// kv_lens.npy, mask.npy, ...), the backend's output (o.npy, lse.npy) and the
// reference's (o_ref.npy; lse_ref.npy always, -inf on fully masked rows), so
// that a run can be replayed, or checked on another machine (tests/aot).
void save_problem(const std::string& dir, Workload& w, const ReferenceOutputs& ref) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error("--save: cannot create the directory '" + dir + "': " + ec.message());
  const AttentionArgs a = w.args();
  const std::pair<const char*, const TensorRef*> inputs[] = {
      {"q", &a.q},         {"k", &a.k},           {"v", &a.v},
      {"q_lens", &a.q_lens}, {"kv_lens", &a.kv_lens}, {"q_doc", &a.q_doc},
      {"kv_doc", &a.kv_doc}, {"mask", &a.mask},       {"alibi_slopes", &a.alibi_slopes},
      {"prefix_lens", &a.prefix_lens}};
  OutputFiles files;
  auto add = [&](const std::string& name, ElemType type, const std::vector<int64_t>& shape, const void* data) {
    files.set(files.add_output("--save", dir + "/" + name + ".npy"), encode_npy(type, shape, data));
  };
  for (const auto& [name, t] : inputs) {
    if (!t->present()) continue;
    // The workload's tensors are dense in C order; a file holds exactly that.
    const TensorRef dense = contiguous_view(t->data, t->type, {t->shape, t->shape + t->rank});
    if (!std::equal(t->stride, t->stride + t->rank, dense.stride))
      throw Error(std::string("--save: the workload's ") + name + " is not dense");
    add(name, t->type, {t->shape, t->shape + t->rank}, t->data);
  }
  const Spec& s = w.spec();
  const std::vector<int64_t> lse_shape = {w.options().batch, s.num_heads, w.options().sq};
  add("o", s.dtype, w.o_shape(), w.o().data());
  if (s.return_lse) add("lse", ElemType::f32, lse_shape, w.lse().data());
  add("o_ref", s.dtype, w.o_shape(), ref.o.data());
  add("lse_ref", ElemType::f32, lse_shape, ref.lse.data());
  files.commit();
}

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
  const auto kernel = process_cache().get(spec, f.backend_flags.select(spec), &source);
  const double kernel_ms = ms_since(t0);
  t0 = std::chrono::steady_clock::now();
  run_on_host_tensors(*kernel, w.args(), RunOptions{f.threads});  // cuda: copied to the device and back
  const double run_ms = ms_since(t0);
  t0 = std::chrono::steady_clock::now();
  const ReferenceOutputs ref = reference_outputs(w, f.threads);
  const double ref_ms = ms_since(t0);
  const Comparison c = compare_with_reference(w, w.o(), spec.return_lse ? &w.lse() : nullptr, ref);
  if (!f.save_dir.empty()) save_problem(f.save_dir, w, ref);

  const double tol = default_tolerance(spec.dtype);
  const bool ok = c.rel_err <= tol && c.nonfinite == 0 && c.empty_rows_nonzero == 0 && c.lse_mismatched_empty == 0 &&
                  (!c.lse_compared || c.lse_max_abs_err <= 1e-3);
  std::printf("spec      %s\nkey       %s\nbackend   %s (isa %s)\n", f.spec.c_str(), kernel->key().c_str(),
              kernel->backend().c_str(), kernel->isa().c_str());
  // cuda: which schedule ran (the per-spec tile, ATTNGEN_CUDA_TILE's or --cuda-tile's).
  for (const auto& [label, text] : kernel->details())
    if (label == "render") std::printf("%-9s %s\n", label.c_str(), text.c_str());
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
  f->backend_flags.add_to(cmd, /*with_arch=*/false);
  cmd->add_option("--batch", f->batch, "Batch size")->transform(integer_in(1, INT64_MAX));
  cmd->add_option("--q-len", f->sq, "Query sequence extent (default: the spec's, else 100)")
      ->transform(integer_in(1, INT64_MAX));
  cmd->add_option("--kv-len", f->skv, "Key sequence extent (default: the spec's, else q-len + 29)")
      ->transform(integer_in(1, INT64_MAX));
  cmd->add_option("--seed", f->seed, "Random seed")->transform(integer_in(0, INT64_MAX));
  cmd->add_option("--threads", f->threads, "Threads (0 = all hardware threads)")->transform(integer_in(0, INT32_MAX));
  cmd->add_option("--save", f->save_dir,
                  "Also write the inputs (q.npy, k.npy, v.npy and the run-time tensors, named as `run` takes them), "
                  "the output (o.npy, lse.npy) and the reference's (o_ref.npy, lse_ref.npy) into this directory");
  cmd->callback([f] { verify(*f); });
}

}  // namespace attngen::cli
