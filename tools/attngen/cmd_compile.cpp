// attngen compile SPEC [--backend B] [--arch SM] [--cuda-tile T] [--emit FILE]: ahead-of-time
// compile; prints what the kernel is (cuda: arch, launch shape, ptxas report).
// Goes through the kernel cache, so a serialisable kernel lands in the disk
// cache (ATTNGEN_CACHE_DIR) for later processes; --emit also writes the
// entry to FILE. JIT-only backends (the reference) are reported as such.
// A cuda kernel brings the merge of partial states for its arch along
// (attngen_merge_states_cuda's module).
// --backend llvm --emit FILE.o [--header FILE.h] [--target T] [--cpu C]
// [--prefix P] writes a relocatable object and its C header instead, for a
// host program that links it with no attngen at all (docs/aot.md).
#include <chrono>
#include <cstdio>

#include "codegen/spec/spec.hpp"
#include "runtime/x86/x86_kernel.hpp"
#include "runtime/cache/kernel_cache.hpp"
#include "runtime/cuda/merge_states_cuda.hpp"
#include "runtime/core/text.hpp"
#include "runtime/core/version.hpp"
#include "runtime/io/output_files.hpp"
#include "runtime/llvm/llvm_backend.hpp"
#include "tools/attngen/backend_flags.hpp"
#include "tools/attngen/commands.hpp"

namespace attngen::cli {
namespace {

struct CompileFlags {
  std::string spec, emit;
  BackendFlags backend_flags;
  std::string header, target, cpu, prefix;  // llvm objects
};

void compile_object(const CompileFlags& f) {
  if (f.emit.empty()) throw Error("--backend llvm with --header, --target, --cpu or --prefix: --emit FILE.o is missing");
  OutputFiles files;
  files.add_input("spec", f.spec);
  const size_t object_file = files.add_output("--emit", f.emit);
  const size_t header_file = f.header.empty() ? 0 : files.add_output("--header", f.header);
  const Spec spec = load_spec_file(f.spec);
  const auto t0 = std::chrono::steady_clock::now();
  llvmgen::AotObject a = llvmgen::compile_ahead_of_time(spec, f.target, f.cpu, f.prefix);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("spec      %s\nbackend   llvm (ahead of time, %.3f ms)\ntarget    %s\ncode      %s\n", f.spec.c_str(), ms,
              a.target.c_str(), a.description.c_str());
  std::printf("symbols   %s{items,scratch_bytes,run_item,run}\n", a.symbol_prefix.c_str());
  const size_t object_bytes = a.object.size();
  files.set(object_file, std::move(a.object));
  if (!f.header.empty()) files.set(header_file, std::vector<uint8_t>(a.header.begin(), a.header.end()));
  files.commit();
  std::printf("emitted   %s (%zu bytes): an ELF relocatable object; link it with -lm\n", f.emit.c_str(), object_bytes);
  if (!f.header.empty()) std::printf("header    %s\n", f.header.c_str());
}

void compile(const CompileFlags& f) {
  const bool object_flags = !f.header.empty() || !f.target.empty() || !f.cpu.empty() || !f.prefix.empty();
  if (f.backend_flags.backend == "llvm" && (object_flags || !f.emit.empty())) return compile_object(f);
  if (object_flags)
    throw Error("--header, --target, --cpu and --prefix make ahead-of-time objects: they need --backend llvm, got "
                "--backend " + printable(f.backend_flags.backend));
  // --emit is checked before anything is compiled: it may not be the spec file.
  OutputFiles files;
  files.add_input("spec", f.spec);
  const size_t emit_file = f.emit.empty() ? 0 : files.add_output("--emit", f.emit);

  const Spec spec = load_spec_file(f.spec);
  const Backend& backend = f.backend_flags.select(spec);
  KernelCache& cache = process_cache();
  KernelSource source;
  const auto t0 = std::chrono::steady_clock::now();
  const auto kernel = cache.get(spec, backend, &source);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("spec      %s\nkey       %s\nbackend   %s (isa %s)\n", f.spec.c_str(), kernel->key().c_str(),
              kernel->backend().c_str(), kernel->isa().c_str());
  std::printf("kernel    %s in %.3f ms\n", source_name(source), ms);
  if (kernel->backend() == "x86") std::printf("plan      %s\n", x86::X86Kernel::host_plan(spec).describe().c_str());
  for (const auto& [label, text] : kernel->details()) std::printf("%-9s %s\n", label.c_str(), text.c_str());

  const std::vector<uint8_t> image = kernel->serialize();
  char took[32];
  std::snprintf(took, sizeof took, "%.3f ms", ms);
  const std::string jit_only = "backend " + kernel->backend() + " kernels are JIT-only: compiled at run time (" +
                               took + " here), nothing can be saved ahead of time";
  if (image.empty())
    std::printf("disk      not cached: %s\n", jit_only.c_str());
  else if (const DiskCache* disk = cache.disk())
    std::printf("disk      %s (%zu bytes)\n", disk->entry_path(kernel->key()).c_str(), image.size());
  else
    std::printf("disk      no cache directory (set ATTNGEN_CACHE_DIR)\n");
  if (kernel->backend() == "cuda") {
    // The merge of partial states (attngen_merge_states_cuda) for the same
    // GPU, so that a process that may not compile finds it too.
    std::string isa;
    try {
      const std::vector<uint8_t>& merge = cuda::merge_states_module(
          cuda::parse_arch(kernel->isa()),
          [&](const std::string& module, const std::string& isa_text, const std::function<std::vector<uint8_t>()>& build) {
            return cache.module(module, isa_text, build);
          },
          &isa);
      std::printf("states    %s, attngen_merge_states_cuda's module (%s, %zu bytes)%s\n", cuda::kMergeStatesModule,
                  isa.c_str(), merge.size(), cache.disk() ? ", in the disk cache" : "");
    } catch (const JitDisabledError&) {
      std::printf("states    %s, attngen_merge_states_cuda's module: in no cache, not compiled (ATTNGEN_DISABLE_JIT=1)\n",
                  cuda::kMergeStatesModule);
    }
  }

  if (f.emit.empty()) return;
  if (image.empty()) throw Error("--emit " + f.emit + ": not written: " + jit_only);
  const std::vector<uint8_t> entry = encode_entry(
      {kGeneratorVersion, toolchain_id(), kernel->backend(), kernel->target(), kernel->key(), canonical_json(spec), image});
  files.set(emit_file, entry);
  files.commit();
  const std::string name = DiskCache("").entry_path(kernel->key()).substr(1);
  std::printf("emitted   %s (%zu bytes): a cache entry; install it as DIR/%s to use it\n", f.emit.c_str(),
              entry.size(), name.c_str());
}

}  // namespace

void add_compile(CLI::App& app) {
  auto* cmd = app.add_subcommand("compile", "Compile a spec ahead of time into the disk cache (ATTNGEN_CACHE_DIR)");
  auto f = std::make_shared<CompileFlags>();
  cmd->add_option("spec", f->spec, "Spec JSON file")->required();
  f->backend_flags.add_to(cmd, /*with_arch=*/true);
  cmd->add_option("--emit", f->emit,
                  "Also write the kernel's cache entry to FILE (serialisable backends only); with --backend llvm: "
                  "a relocatable object FILE.o for a host program (docs/aot.md)");
  cmd->add_option("--header", f->header, "llvm: also write the object's C header (entry points, AttnParams)");
  cmd->add_option("--target", f->target,
                  "llvm: the target triple of the object (x86_64-linux-gnu, aarch64-linux-gnu; default: this machine)");
  cmd->add_option("--cpu", f->cpu, "llvm: the CPU of the object (e.g. x86-64-v3, neoverse-v1; default: generic)");
  cmd->add_option("--prefix", f->prefix, "llvm: the entry points' name prefix (a C identifier; default: from the spec)");
  cmd->callback([f] { compile(*f); });
}

}  // namespace attngen::cli
