// Backends compile a Spec into a Kernel; a Kernel runs on bound arguments.
// Kernels are immutable after compilation and safe to run from many threads.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "codegen/spec/spec.hpp"
#include "runtime/core/args.hpp"

namespace attngen {

struct RunOptions {
  int threads = 0;  // 0 = all hardware threads
  void* stream = nullptr;  // device kernels: the CUstream to launch on (null: the default stream)
};

// The most parts (or threads) one call is split into; more are treated as
// this many. No machine runs more at once, and it keeps the planners' item
// arithmetic far from int overflow (INT32_MAX threads once overflowed it).
constexpr int kMaxParts = 1 << 16;

// One call split into independent work items, so that a host engine can run
// them on its own thread pool. The arguments were checked when the plan was
// made; items may run concurrently, in any order, on any threads, and the
// call is complete when every item has run once. The plan refers to the
// caller's tensors: they must outlive it.
class CallPlan {
 public:
  virtual ~CallPlan() = default;
  virtual size_t items() const = 0;
  virtual void run_item(size_t item) const = 0;
};

// Runs every item of `plan` on `threads` threads (the calling one included).
void run_items(const CallPlan& plan, int threads);

class Kernel {
 public:
  Kernel(Spec spec, std::string backend, std::string isa) : Kernel(std::move(spec), backend, isa, isa) {}
  // `target`: what the backend compiles for on this machine (Backend::isa(),
  // part of the cache key); `isa`: what this kernel's code uses.
  Kernel(Spec spec, std::string backend, const std::string& target, std::string isa)
      : spec_(std::move(spec)), backend_(std::move(backend)), target_(target), isa_(std::move(isa)),
        key_(cache_key(spec_, backend_, target)) {}
  virtual ~Kernel() = default;

  const Spec& spec() const { return spec_; }
  const std::string& backend() const { return backend_; }
  const std::string& target() const { return target_; }  // Backend::isa() of the compile: in the key
  const std::string& isa() const { return isa_; }
  const std::string& key() const { return key_; }
  // Where this kernel's tensors must live (host for CPU backends).
  virtual Memory memory() const { return Memory::host; }

  // Checks that `args` are in this kernel's memory, then bind_args().
  BoundArgs bind(const AttentionArgs& args) const;
  // Checks `args` against the spec, then computes on opt.threads threads
  // (device kernels: launches on opt.stream and returns without waiting).
  void run(const AttentionArgs& args, const RunOptions& opt = {}) const { execute(bind(args), opt); }
  virtual void execute(const BoundArgs& args, const RunOptions& opt) const;
  // Checks `args`, then splits the call into about `parts` balanced items.
  std::unique_ptr<CallPlan> prepare(const AttentionArgs& args, int parts) const {
    return plan(bind(args), parts);
  }
  // plan_call with `parts` clamped to [1, kMaxParts]: what every caller uses.
  std::unique_ptr<CallPlan> plan(const BoundArgs& args, int parts) const {
    return plan_call(args, parts < 1 ? 1 : parts > kMaxParts ? kMaxParts : parts);
  }
  // The backend's split; `parts` is in [1, kMaxParts].
  virtual std::unique_ptr<CallPlan> plan_call(const BoundArgs& args, int parts) const = 0;

  // What `attngen compile` prints about this kernel besides its key, as
  // (label, text) lines: e.g. a CUDA kernel's launch shape and ptxas report.
  virtual std::vector<std::pair<std::string, std::string>> details() const { return {}; }

  // A relocatable image of the compiled code for the disk cache, or empty when
  // this kernel cannot be reloaded (the backend's deserialize() reverses it).
  virtual std::vector<uint8_t> serialize() const { return {}; }

  // What the compile generated, for ATTNGEN_DUMP (runtime/cache/dump.cpp):
  // machine code (disassembled when `objdump_arch` is set), source or PTX.
  // The bytes belong to the kernel and live as long as it does.
  struct CodeBlob {
    std::string name;         // file name suffix, e.g. "qk_gemm.bin"
    const void* data;
    size_t size;
    const char* objdump_arch;  // e.g. "i386:x86-64"; nullptr for text
  };
  virtual std::vector<CodeBlob> code_blobs() const { return {}; }

 private:
  Spec spec_;
  std::string backend_, target_, isa_;
  std::string key_;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // Target this backend generates for on this machine ("" if unavailable): the
  // ISA and any choice that changes generated code; part of every cache key.
  virtual std::string isa() const = 0;
  // Empty when usable on this machine; otherwise why not.
  virtual std::string unavailable_reason() const { return ""; }
  // Non-empty when a setting of this backend is invalid (e.g. a misspelt
  // environment variable): every backend selection fails with it, `auto`
  // included, rather than quietly picking another backend.
  virtual std::string setting_error() const { return ""; }
  // The settings this backend reads at each compile (cuda: ATTNGEN_CUDA_TILE),
  // as given: a process may change them between compiles, so the cache's
  // memo of requests (KernelCache::get) keys on them too.
  virtual std::string setting_values() const { return ""; }
  // Empty when `spec` is supported; otherwise why not.
  virtual std::string unsupported_reason(const Spec&) const { return ""; }
  virtual std::unique_ptr<Kernel> compile(const Spec& spec) const = 0;
  // False for a backend whose Kernel::serialize() is always empty: its
  // kernels are compiled at run time only and no cache outside the process
  // can ever hold them (so ATTNGEN_DISABLE_JIT=1 cannot work with it).
  virtual bool serialises() const { return true; }
  // Rebuilds a kernel from Kernel::serialize() output; nullptr when this
  // backend has no serialisable kernels or `image` is not one of its images.
  virtual std::unique_ptr<Kernel> deserialize(const Spec&, const std::vector<uint8_t>& /*image*/) const {
    return nullptr;
  }
  // Where its kernels' tensors live. `auto` only ever picks host backends.
  virtual Memory memory() const { return Memory::host; }
  // This backend compiling for an explicit `target` rather than this
  // machine's (cuda: an arch such as "sm_90a", needing no GPU). Throws Error
  // for a backend without selectable targets or an unknown target.
  virtual const Backend& with_target(const std::string& target) const;
};

// Every backend built into this binary, most preferred first.
const std::vector<const Backend*>& all_backends();
// "auto" picks the first available host-memory backend that supports `spec`.
// Throws Error naming the known backends for an unknown name, or saying why
// one cannot run. A non-empty `target` selects Backend::with_target(target)
// of the named backend (not with "auto").
const Backend& select_backend(const std::string& name, const Spec& spec, const std::string& target = "");

int hardware_threads();

}  // namespace attngen
