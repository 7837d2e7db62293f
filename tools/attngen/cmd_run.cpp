// attngen run SPEC --q Q.npy --k K.npy --v V.npy --out O.npy [...]: one call on
// tensors from .npy files. Outputs are written all or none (OutputFiles): a
// failed run leaves no file behind and changes none, and an output that is an
// input or another output is refused before anything runs.
#include <chrono>
#include <cstdio>
#include <map>

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

// The run-time mask tensors: flag, tensor name, help.
struct ExtraTensor {
  const char* flag;
  const char* name;
  const char* help;
};
constexpr ExtraTensor kExtras[] = {
    {"--q-lens", "q_lens", "padding: int32 [B] query lengths (optional, default Sq)"},
    {"--kv-lens", "kv_lens", "padding: int32 [B] key lengths"},
    {"--q-doc", "q_doc", "document: int32 [B,Sq] ids"},
    {"--kv-doc", "kv_doc", "document: int32 [B,Skv] ids"},
    {"--mask", "mask", "custom: bool/uint8 or additive float tensor broadcasting to [B,Hq,Sq,Skv]"},
    {"--alibi-slopes", "alibi_slopes", "alibi: float32 [Hq] or [B,Hq] slopes"},
    {"--prefix-lens", "prefix_lens", "prefix_lm without a static prefix: int32 [B]"},
};

// The bytes of an output whose extents follow Q's. Q's shape comes from a
// .npy header: with one extent 0 it holds no data whatever the others claim,
// so the size is checked before anything is allocated.
size_t output_bytes(const char* flag, const char* name, const std::vector<int64_t>& shape, ElemType type,
                    const TensorRef& q) {
  const std::optional<uint64_t> n = tensor_bytes(shape, type);
  const uint64_t memory = physical_memory_bytes();
  if (n && (memory == 0 || *n <= memory) && *n <= SIZE_MAX) return size_t(*n);
  throw Error(std::string(flag) + ": cannot allocate " + name + " of shape " + shape_string(shape) + " (" +
              elem_name(type) + ", following q's shape " + shape_string(q) + "): " +
              (n ? std::to_string(*n) + " bytes" : std::string("more than 2^64 bytes")) +
              ", more than this machine's memory (" + std::to_string(memory) + " bytes)");
}

struct RunFlags {
  std::string spec, q, k, v, out, lse;
  std::map<std::string, std::string> extra;  // run-time mask tensors by name
  BackendFlags backend_flags;
  int threads = 0;
};

void run(const RunFlags& f) {
  // Every path first, before anything is read or computed.
  OutputFiles files;
  files.add_input("spec", f.spec);
  files.add_input("--q", f.q);
  files.add_input("--k", f.k);
  files.add_input("--v", f.v);
  for (const ExtraTensor& e : kExtras)
    if (auto it = f.extra.find(e.name); it != f.extra.end()) files.add_input(e.flag, it->second);
  const size_t o_file = files.add_output("--out", f.out);
  const size_t lse_file = f.lse.empty() ? 0 : files.add_output("--lse", f.lse);

  const Spec spec = load_spec_file(f.spec);
  const Backend& backend = f.backend_flags.select(spec);
  std::map<std::string, NpyArray> arrays;
  auto load = [&](const std::string& name, const std::string& path) -> TensorRef {
    if (path.empty()) return {};
    return arrays.emplace(name, read_npy(path, name)).first->second.view();
  };
  AttentionArgs a;
  a.q = load("q", f.q);
  a.k = load("k", f.k);
  a.v = load("v", f.v);
  for (const auto& [name, path] : f.extra) {
    TensorRef t = load(name, path);
    if (name == "q_lens") a.q_lens = t;
    if (name == "kv_lens") a.kv_lens = t;
    if (name == "q_doc") a.q_doc = t;
    if (name == "kv_doc") a.kv_doc = t;
    if (name == "mask") a.mask = t;
    if (name == "alibi_slopes") a.alibi_slopes = t;
    if (name == "prefix_lens") a.prefix_lens = t;
  }
  if (spec.return_lse && f.lse.empty())
    throw Error("--lse: the spec has return_lse: true, so an LSE output file is required");
  if (!spec.return_lse && !f.lse.empty())
    throw Error("--lse: given, but the spec has return_lse: false");

  // Output extents follow Q (shape checked by bind_args before anything runs).
  std::vector<int64_t> o_shape(a.q.shape, a.q.shape + a.q.rank);
  if (o_shape.size() == 4) o_shape[3] = spec.head_dim_v;
  std::vector<uint8_t> o(output_bytes("--out", "O", o_shape, spec.dtype, a.q));
  a.o = contiguous_view(o.data(), spec.dtype, o_shape);
  std::vector<float> lse;
  std::vector<int64_t> lse_shape;
  if (spec.return_lse && o_shape.size() == 4) {
    const bool bhsd = spec.layout == Layout::bhsd;
    lse_shape = {o_shape[0], spec.num_heads, bhsd ? o_shape[2] : o_shape[1]};
    lse.resize(output_bytes("--lse", "LSE", lse_shape, ElemType::f32, a.q) / sizeof(float));
    a.lse = contiguous_view(lse.data(), ElemType::f32, lse_shape);
  }

  const auto t0 = std::chrono::steady_clock::now();
  // Through the kernel cache, so ATTNGEN_VERBOSE, _DUMP and _DISABLE_JIT apply.
  const auto kernel = process_cache().get(spec, backend);
  const auto t1 = std::chrono::steady_clock::now();
  run_on_host_tensors(*kernel, a, RunOptions{f.threads});  // cuda: copied to the device and back
  const auto t2 = std::chrono::steady_clock::now();
  files.set(o_file, encode_npy(spec.dtype, o_shape, o.data()));
  if (spec.return_lse) files.set(lse_file, encode_npy(ElemType::f32, lse_shape, lse.data()));
  files.commit();
  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  std::fprintf(stderr, "attngen run: backend %s (%s), compile %.3f ms, run %.3f ms -> %s\n", kernel->backend().c_str(),
               kernel->isa().c_str(), ms(t1 - t0), ms(t2 - t1), f.out.c_str());
}

}  // namespace

void add_run(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "Run a spec on .npy tensors and write the output (.npy)");
  auto f = std::make_shared<RunFlags>();
  cmd->footer(
      "Tensors: .npy, C order, little-endian. f32 <f4, f16 <f2, bf16 as raw bits <u2, int32 <i4, bool |b1 or uint8 |u1.\n"
      "Shapes (bhsd): Q [B,Hq,Sq,D], K [B,Hkv,Skv,D], V [B,Hkv,Skv,Dv], O [B,Hq,Sq,Dv]; bshd swaps the head and\n"
      "sequence axes. LSE is f32 [B,Hq,Sq].");
  cmd->add_option("spec", f->spec, "Spec JSON file")->required();
  cmd->add_option("--q", f->q, "Queries")->required();
  cmd->add_option("--k", f->k, "Keys")->required();
  cmd->add_option("--v", f->v, "Values")->required();
  cmd->add_option("--out", f->out, "Output file for O (written atomically, with --lse: both or neither)")->required();
  cmd->add_option("--lse", f->lse, "Output file for the log-sum-exp (needs return_lse: true)");
  for (const ExtraTensor& e : kExtras) {
    const std::string key = e.name;
    cmd->add_option_function<std::string>(e.flag, [f, key](const std::string& p) { f->extra[key] = p; }, e.help);
  }
  f->backend_flags.add_to(cmd, /*with_arch=*/false);
  cmd->add_option("--threads", f->threads, "Threads (0 = all hardware threads)")->transform(integer_in(0, INT32_MAX));
  cmd->callback([f] { run(*f); });
}

}  // namespace attngen::cli
