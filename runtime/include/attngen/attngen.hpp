// attngen: a thin C++ layer over the C ABI (attngen.h): RAII handles and
// exceptions carrying the library's message. Header-only; it adds no state.
//
//   auto k = attngen::api::Kernel::compile(R"({"dtype": "f32", "head_dim": 64, "num_heads": 8})");
//   attngen_args a{};
//   a.q = attngen::api::tensor(q.data(), ATTNGEN_F32, {B, 8, Sq, 64});
//   ...
//   k.run(a);
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>

#include "attngen/attngen.h"

namespace attngen::api {

class Error : public std::runtime_error {
 public:
  Error(attngen_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  attngen_status status() const { return status_; }

 private:
  attngen_status status_;
};

// Throws Error with this thread's last message unless `s` is ATTNGEN_OK.
inline void check(attngen_status s) {
  if (s != ATTNGEN_OK) throw Error(s, attngen_last_error());
}

// A dense C-order tensor.
inline attngen_tensor tensor(const void* data, attngen_dtype dtype, std::initializer_list<int64_t> shape) {
  return attngen_tensor_contiguous(data, dtype, int32_t(shape.size()), shape.begin());
}

// A strided view; `strides` in elements, one per extent.
inline attngen_tensor tensor(const void* data, attngen_dtype dtype, std::initializer_list<int64_t> shape,
                             std::initializer_list<int64_t> strides) {
  attngen_tensor t = tensor(data, dtype, shape);
  int d = 0;
  for (int64_t s : strides)
    if (d < ATTNGEN_MAX_RANK) t.strides[d++] = s;
  if (strides.size() != shape.size()) t.rank = -1;  // reported as a bad rank when used
  return t;
}

// One prepared call split into work items (attngen_kernel_prepare).
class Call {
 public:
  Call() = default;
  explicit Call(attngen_call* c) : c_(c) {}
  Call(Call&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  Call& operator=(Call&& o) noexcept {
    std::swap(c_, o.c_);
    return *this;
  }
  ~Call() {
    if (c_) attngen_call_release(c_);
  }
  size_t items() const {
    size_t n = 0;
    check(attngen_call_items(c_, &n));
    return n;
  }
  void run_item(size_t item) const { check(attngen_call_run_item(c_, item)); }
  attngen_call* handle() const { return c_; }

 private:
  attngen_call* c_ = nullptr;
};

// A compiled kernel. Copies share the kernel (reference counted).
class Kernel {
 public:
  Kernel() = default;
  // Adopts a handle from attngen_kernel_compile*.
  explicit Kernel(attngen_kernel* k) : k_(k) {
    if (k_) check(attngen_kernel_get_info(k_, &info_));
  }
  // `cuda_arch`, `cuda_tile`: backend "cuda" only; "" = device 0's arch, the
  // per-spec tile (attngen_compile_options).
  static Kernel compile(const std::string& spec_json, const std::string& backend = "auto", int threads = 0,
                        const std::string& cuda_arch = "", const std::string& cuda_tile = "") {
    attngen_compile_options o = options(backend, threads, cuda_arch, cuda_tile);
    attngen_kernel* k = nullptr;
    check(attngen_kernel_compile(spec_json.c_str(), &o, &k));
    return Kernel(k);
  }
  static Kernel compile_file(const std::string& path, const std::string& backend = "auto", int threads = 0,
                             const std::string& cuda_arch = "", const std::string& cuda_tile = "") {
    attngen_compile_options o = options(backend, threads, cuda_arch, cuda_tile);
    attngen_kernel* k = nullptr;
    check(attngen_kernel_compile_file(path.c_str(), &o, &k));
    return Kernel(k);
  }

  Kernel(const Kernel& o) : k_(o.k_), info_(o.info_) {
    if (k_) check(attngen_kernel_retain(k_));
  }
  Kernel(Kernel&& o) noexcept : k_(std::exchange(o.k_, nullptr)), info_(o.info_) {}
  Kernel& operator=(Kernel o) noexcept {
    std::swap(k_, o.k_);
    std::swap(info_, o.info_);
    return *this;
  }
  ~Kernel() {
    if (k_) attngen_kernel_release(k_);
  }

  // Checks the arguments, then computes (threads 0: the compile option's).
  void run(const attngen_args& args, int threads = 0) const { check(attngen_kernel_run(k_, &args, threads)); }
  // Backend "cuda": device pointers, launched on `stream` (a CUstream), asynchronous.
  void run_cuda(const attngen_args& args, void* stream = nullptr) const {
    check(attngen_kernel_run_cuda(k_, &args, stream));
  }
  Call prepare(const attngen_args& args, int parts) const {
    attngen_call* c = nullptr;
    check(attngen_kernel_prepare(k_, &args, parts, &c));
    return Call(c);
  }

  explicit operator bool() const { return k_ != nullptr; }
  const attngen_kernel_info& info() const { return info_; }
  std::string key() const { return str(info_.key); }
  std::string backend() const { return str(info_.backend); }
  std::string isa() const { return str(info_.isa); }
  std::string spec() const { return str(info_.spec); }
  bool writes_lse() const { return info_.writes_lse != 0; }
  attngen_kernel* handle() const { return k_; }

 private:
  static attngen_compile_options options(const std::string& backend, int threads, const std::string& cuda_arch,
                                         const std::string& cuda_tile) {
    attngen_compile_options o;
    attngen_compile_options_init(&o);
    o.backend = backend.c_str();
    o.threads = threads;
    o.cuda_arch = cuda_arch.empty() ? nullptr : cuda_arch.c_str();
    o.cuda_tile = cuda_tile.empty() ? nullptr : cuda_tile.c_str();
    return o;
  }
  static std::string str(const char* s) { return s ? s : ""; }

  attngen_kernel* k_ = nullptr;
  attngen_kernel_info info_{};
};

inline std::string version() { return attngen_version(); }

}  // namespace attngen::api
