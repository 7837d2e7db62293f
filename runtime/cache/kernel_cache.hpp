// Where compiled kernels come from: the in-process cache, else the disk
// cache (for backends whose kernels serialise), else the backend's compiler.
// Configured from the environment (docs/api.md):
//   ATTNGEN_CACHE_CAPACITY  kernels kept in memory (default 256, LRU)
//   ATTNGEN_CACHE_DIR       disk cache directory (default $XDG_CACHE_HOME/attngen or ~/.cache/attngen)
//   ATTNGEN_DISABLE_JIT=1   never compile: a kernel missing from both caches is an error naming its key
//   ATTNGEN_VERBOSE=1       one stderr line per compile and per cache hit or miss
//   ATTNGEN_DUMP=DIR        what each compile generated, named by key (dump.hpp)
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

#include "runtime/cache/disk_cache.hpp"
#include "runtime/cache/memory_cache.hpp"
#include "runtime/core/backend.hpp"
#include "runtime/core/error.hpp"

namespace attngen {

struct CacheConfig {
  size_t capacity = 256;
  std::string dir;  // "" = no disk cache
  bool disable_jit = false;
  bool verbose = false;
  std::string dump_dir;  // "" = no dumps
  static CacheConfig from_env();
};

// A kernel that ATTNGEN_DISABLE_JIT=1 forbids compiling and no cache holds.
class JitDisabledError : public ErrorKind<JitDisabledError> {
 public:
  using ErrorKind::ErrorKind;
};

// A backend that is unknown, unavailable here, or cannot compile the spec.
class BackendError : public ErrorKind<BackendError> {
 public:
  using ErrorKind::ErrorKind;
};
// select_backend(), with its errors as BackendError.
const Backend& choose_backend(const std::string& name, const Spec& spec, const std::string& target = "");

enum class KernelSource { memory, disk, compiled };
const char* source_name(KernelSource s);

class KernelCache {
 public:
  using KernelPtr = std::shared_ptr<const Kernel>;
  explicit KernelCache(CacheConfig config);

  // The kernel of `spec` compiled by `backend`. Thread-safe; a key is built
  // once however many threads ask for it at the same time.
  KernelPtr get(const Spec& spec, const Backend& backend, KernelSource* source = nullptr);
  // The same from spec JSON text and a backend name (select_backend, with
  // an explicit `target` when not empty): a repeated request with the same
  // text skips parsing and hashing.
  KernelPtr get(const std::string& spec_json, const std::string& backend_name, KernelSource* source = nullptr,
                const std::string& target = "");

  // A module that belongs to no spec (the CUDA merge of partial states,
  // runtime/cuda/merge_states_cuda.hpp), named `module` and built for `isa`:
  // its bytes from the disk cache, else from `build`, then stored there for
  // later processes (under the key's lock, as kernels are). Callers keep
  // what they load in memory. ATTNGEN_DISABLE_JIT=1 forbids the build.
  std::vector<uint8_t> module(const std::string& module, const std::string& isa,
                              const std::function<std::vector<uint8_t>()>& build);

  const CacheConfig& config() const { return config_; }
  MemoryCache& memory() { return memory_; }
  const DiskCache* disk() const { return disk_ ? &*disk_ : nullptr; }

 private:
  KernelPtr build(const Spec& spec, const Backend& backend, const std::string& key, KernelSource* source);
  KernelPtr load_from_disk(const Spec& spec, const Backend& backend, const std::string& key, bool log_miss = true);
  KernelPtr compile(const Spec& spec, const Backend& backend);
  bool jit_only(const std::string& backend);
  void log(const std::string& line) const;

  const CacheConfig config_;
  MemoryCache memory_;
  std::optional<DiskCache> disk_;
  std::mutex mu_;
  std::set<std::string> jit_only_;  // backends seen to return an empty serialize()
  std::unordered_map<std::string, std::string> request_keys_;  // backend name + '\0' + spec text -> key
};

// The process-wide cache behind the C API and the CLI (from_env() at first use).
KernelCache& process_cache();

}  // namespace attngen
