// attngen compile SPEC [--backend B] [--arch SM] [--emit FILE]: ahead-of-time
// compile; prints what the kernel is (cuda: arch, launch shape, ptxas report).
// Goes through the kernel cache, so a serialisable kernel lands in the disk
// cache (ATTNGEN_CACHE_DIR) for later processes; --emit also writes the
// entry to FILE. JIT-only backends (the reference) are reported as such.
#include <chrono>
#include <cstdio>

#include "codegen/spec/spec.hpp"
#include "runtime/x86/x86_kernel.hpp"
#include "runtime/cache/kernel_cache.hpp"
#include "runtime/core/version.hpp"
#include "runtime/io/output_files.hpp"
#include "tools/attngen/commands.hpp"

namespace attngen::cli {
namespace {

struct CompileFlags {
  std::string spec, backend = "auto", emit, arch;
};

void compile(const CompileFlags& f) {
  // --emit is checked before anything is compiled: it may not be the spec file.
  OutputFiles files;
  files.add_input("spec", f.spec);
  const size_t emit_file = f.emit.empty() ? 0 : files.add_output("--emit", f.emit);

  const Spec spec = load_spec_file(f.spec);
  const Backend& backend = choose_backend(f.backend, spec, f.arch);
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
  cmd->add_option("--backend", f->backend, "auto, or a backend name (see `attngen info`)");
  cmd->add_option("--emit", f->emit, "Also write the kernel's cache entry to FILE (serialisable backends only)");
  cmd->add_option("--arch", f->arch,
                  "cuda: the GPU to compile for (sm_80, sm_86, sm_89, sm_90a; default: device 0's). Needs NVRTC, no GPU");
  cmd->callback([f] { compile(*f); });
}

}  // namespace attngen::cli
