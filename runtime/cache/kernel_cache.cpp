#include "runtime/cache/kernel_cache.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "runtime/cache/dump.hpp"
#include "runtime/core/version.hpp"

namespace attngen {
namespace {

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}

}  // namespace

CacheConfig CacheConfig::from_env() {
  CacheConfig c;
  if (const char* v = std::getenv("ATTNGEN_CACHE_CAPACITY"); v && *v) {
    char* end = nullptr;
    const unsigned long long n = std::strtoull(v, &end, 10);
    if (*end == '\0' && n > 0 && v[0] != '-')
      c.capacity = size_t(n);
    else
      std::fprintf(stderr, "attngen: warning: ATTNGEN_CACHE_CAPACITY='%s' is not a positive integer; using %zu\n", v,
                   c.capacity);
  }
  c.dir = default_cache_dir();
  c.disable_jit = env_flag("ATTNGEN_DISABLE_JIT");
  c.verbose = env_flag("ATTNGEN_VERBOSE");
  if (const char* d = std::getenv("ATTNGEN_DUMP")) c.dump_dir = d;
  return c;
}

const Backend& choose_backend(const std::string& name, const Spec& spec, const std::string& target) {
  try {
    return select_backend(name, spec, target);
  } catch (const Error& e) {
    throw BackendError(e.what());
  }
}

const char* source_name(KernelSource s) {
  switch (s) {
    case KernelSource::memory: return "memory cache";
    case KernelSource::disk: return "disk cache";
    case KernelSource::compiled: return "compiled";
  }
  return "?";
}

KernelCache::KernelCache(CacheConfig config) : config_(std::move(config)), memory_(config_.capacity) {
  if (!config_.dir.empty()) disk_.emplace(config_.dir);
}

void KernelCache::log(const std::string& line) const {
  if (config_.verbose) std::fprintf(stderr, "attngen: %s\n", line.c_str());  // one write per line
}

KernelCache::KernelPtr KernelCache::get(const Spec& spec, const Backend& backend, KernelSource* source) {
  const std::string key = cache_key(spec, backend.name(), backend.isa());
  KernelSource from = KernelSource::memory;
  bool built = false;
  KernelPtr k = memory_.get_or_build(key, [&] { return build(spec, backend, key, &from); }, &built);
  if (!built && config_.verbose) log("cache hit (memory) key=" + key);  // no string work on quiet hits
  if (source) *source = built ? from : KernelSource::memory;
  return k;
}

KernelCache::KernelPtr KernelCache::get(const std::string& spec_json, const std::string& backend_name,
                                        KernelSource* source, const std::string& target) {
  std::string request = backend_name;
  request += '\0';
  request += target;
  request += '\0';
  for (const Backend* b : all_backends()) request += b->setting_values() + '\0';
  request += spec_json;
  std::string key;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = request_keys_.find(request); it != request_keys_.end()) key = it->second;
  }
  if (!key.empty()) {
    if (KernelPtr k = memory_.find(key)) {
      if (config_.verbose) log("cache hit (memory) key=" + key);
      if (source) *source = KernelSource::memory;
      return k;
    }
  }
  const Spec spec = parse_spec(spec_json);
  KernelPtr k = get(spec, choose_backend(backend_name, spec, target), source);
  std::lock_guard<std::mutex> lock(mu_);
  if (request_keys_.size() >= 4 * memory_.capacity()) request_keys_.clear();  // bounded; rebuilt on demand
  request_keys_[request] = k->key();
  return k;
}

bool KernelCache::jit_only(const std::string& backend) {
  std::lock_guard<std::mutex> lock(mu_);
  return jit_only_.count(backend) != 0;
}

KernelCache::KernelPtr KernelCache::build(const Spec& spec, const Backend& backend, const std::string& key,
                                          KernelSource* source) {
  log("cache miss (memory) key=" + key + " backend=" + backend.name());
  const bool use_disk = disk_ && backend.serialises() && !jit_only(backend.name());
  if (use_disk) {
    if (KernelPtr k = load_from_disk(spec, backend, key)) {
      *source = KernelSource::disk;
      return k;
    }
  }
  if (config_.disable_jit && (!backend.serialises() || jit_only(backend.name()))) {
    // No ahead-of-time compile can help: say so rather than suggest one.
    std::string cached;
    for (const Backend* b : all_backends())
      if (b->serialises() && b->unavailable_reason().empty()) cached += (cached.empty() ? "" : ", ") + b->name();
    throw JitDisabledError("ATTNGEN_DISABLE_JIT=1: kernel " + key + " (backend " + backend.name() + ", isa " +
                           backend.isa() + ") is in no cache, and backend " + backend.name() +
                           " kernels cannot be cached: they are only ever compiled at run time, so JIT must stay "
                           "enabled for this backend (unset ATTNGEN_DISABLE_JIT" +
                           (cached.empty() ? std::string(")") : ", or use a backend whose kernels are cached: " + cached + ")"));
  }
  if (config_.disable_jit)
    throw JitDisabledError("ATTNGEN_DISABLE_JIT=1: kernel " + key + " (backend " + backend.name() + ", isa " +
                           backend.isa() + ") is in no cache" +
                           (disk_ ? " (disk cache " + disk_->dir() + ")" : std::string(" (no disk cache)")) +
                           "; build it ahead of time with `attngen compile SPEC --backend " + backend.name() +
                           "`, or allow compiling");

  // Across processes: hold the key's lock while compiling, and look again
  // once we have it, in case another process stored the entry meanwhile.
  std::optional<DiskCache::KeyLock> lock;
  if (use_disk) {
    try {
      lock.emplace(disk_->lock(key));
      if (KernelPtr k = load_from_disk(spec, backend, key, /*log_miss=*/false)) {
        *source = KernelSource::disk;
        return k;
      }
    } catch (const Error& e) {
      log(std::string("disk cache unavailable: ") + e.what());
    }
  }
  KernelPtr k = compile(spec, backend);
  *source = KernelSource::compiled;
  if (use_disk) {
    const std::vector<uint8_t> image = k->serialize();
    if (image.empty()) {
      if (lock) lock->remove_file();
      std::lock_guard<std::mutex> g(mu_);
      jit_only_.insert(backend.name());
    } else {
      try {
        disk_->store({kGeneratorVersion, toolchain_id(), backend.name(), backend.isa(), key, canonical_json(spec), image});
        log("cache store (disk) key=" + key + " bytes=" + std::to_string(image.size()));
      } catch (const Error& e) {
        log(std::string("cache store (disk) failed: ") + e.what());
      }
    }
  }
  return k;
}

std::vector<uint8_t> KernelCache::module(const std::string& module, const std::string& isa,
                                         const std::function<std::vector<uint8_t>()>& build) {
  const std::string key = module_key(module, isa);
  const auto from_disk = [&](bool log_miss) -> std::optional<std::vector<uint8_t>> {
    std::string why;
    std::optional<DiskEntry> e = disk_->load(key, &why);
    if (e && e->spec.empty() && !e->payload.empty()) {
      log("cache hit (disk) module " + module + " key=" + key);
      return std::move(e->payload);
    }
    if (e) disk_->remove(key);  // a kernel's entry under a module's key: never one of ours
    if (!why.empty()) log("cache entry discarded key=" + key + ": " + why);
    else if (log_miss) log("cache miss (disk) module " + module + " key=" + key);
    return std::nullopt;
  };
  std::optional<DiskCache::KeyLock> lock;
  if (disk_) {
    try {
      if (auto bytes = from_disk(true)) return std::move(*bytes);
      lock.emplace(disk_->lock(key));
      if (auto bytes = from_disk(false)) return std::move(*bytes);
    } catch (const Error& e) {
      log(std::string("disk cache unavailable: ") + e.what());
    }
  }
  if (config_.disable_jit)
    throw JitDisabledError("ATTNGEN_DISABLE_JIT=1: module " + module + " (isa " + isa + ", key " + key +
                           ") is in no cache" +
                           (disk_ ? " (disk cache " + disk_->dir() + ")" : std::string(" (no disk cache)")) +
                           "; `attngen compile SPEC --backend cuda` on this machine stores it, or allow compiling");
  std::vector<uint8_t> bytes = build();
  if (disk_ && !bytes.empty()) {
    try {
      disk_->store({kGeneratorVersion, toolchain_id(), module, isa, key, "", bytes});
      log("cache store (disk) module " + module + " key=" + key + " bytes=" + std::to_string(bytes.size()));
    } catch (const Error& e) {
      log(std::string("cache store (disk) failed: ") + e.what());
    }
  }
  return bytes;
}

KernelCache::KernelPtr KernelCache::load_from_disk(const Spec& spec, const Backend& backend, const std::string& key,
                                                   bool log_miss) {
  std::string why;
  std::optional<DiskEntry> e = disk_->load(key, &why);
  if (!e) {
    if (!why.empty()) log("cache entry discarded key=" + key + ": " + why);
    else if (log_miss) log("cache miss (disk) key=" + key);
    return nullptr;
  }
  std::unique_ptr<Kernel> k;
  try {
    k = backend.deserialize(spec, e->payload);
  } catch (const std::exception& ex) {
    why = ex.what();
  }
  if (!k) {
    disk_->remove(key);
    log("cache entry discarded key=" + key + ": backend " + backend.name() + " could not load it" +
        (why.empty() ? "" : ": " + why));
    return nullptr;
  }
  log("cache hit (disk) key=" + key);
  return k;
}

KernelCache::KernelPtr KernelCache::compile(const Spec& spec, const Backend& backend) {
  const auto t0 = std::chrono::steady_clock::now();
  std::shared_ptr<const Kernel> k = backend.compile(spec);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (config_.verbose) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f", ms);
    log("compile key=" + k->key() + " backend=" + k->backend() + " isa=" + k->isa() + " ms=" + buf);
  }
  if (!config_.dump_dir.empty()) dump_kernel(*k, config_.dump_dir);
  return k;
}

KernelCache& process_cache() {
  // Never destroyed: host threads may still run kernels while the process exits.
  static KernelCache* cache = new KernelCache(CacheConfig::from_env());
  return *cache;
}

}  // namespace attngen
