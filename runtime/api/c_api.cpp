// The C ABI (attngen/attngen.h) over the kernel cache and Kernel. Argument
// checking is bind_args' job; this layer only converts descriptors and
// handles, and turns exceptions into statuses (status.hpp).
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "attngen/attngen.h"
#include "codegen/spec/spec.hpp"
#include "runtime/api/handles.hpp"
#include "runtime/api/status.hpp"
#include "runtime/cache/kernel_cache.hpp"
#include "runtime/core/merge_states.hpp"
#include "runtime/core/version.hpp"
#include "runtime/cuda/cuda_backend.hpp"
#include "runtime/cuda/driver_library.hpp"
#include "runtime/cuda/merge_states_cuda.hpp"

namespace attngen::capi {

HandlePool<attngen_kernel>& kernel_pool() {
  static auto* pool = new HandlePool<attngen_kernel>;  // never destroyed: handles outlive static destructors
  return *pool;
}
HandlePool<attngen_call>& call_pool() {
  static auto* pool = new HandlePool<attngen_call>;
  return *pool;
}

namespace {

void require(const void* p, const char* what) {
  if (!p) throw ApiError(ATTNGEN_ERR_INVALID_ARGUMENT, std::string(what) + ": null pointer");
}

std::string options_backend(const attngen_compile_options* o) { return o && o->backend ? o->backend : "auto"; }

// Fields added after the first release are read only when the caller's
// struct_size covers them.
#define ATTNGEN_HAS_FIELD(o, field) ((o)->struct_size >= offsetof(attngen_compile_options, field) + sizeof((o)->field))

// The backend's target: cuda_arch and cuda_tile as "ARCH", "ARCH/TILE" or
// "/TILE" (the cuda backend's with_target), "" for neither.
std::string options_target(const attngen_compile_options* o) {
  const std::string arch = o && ATTNGEN_HAS_FIELD(o, cuda_arch) && o->cuda_arch ? o->cuda_arch : "";
  const std::string tile = o && ATTNGEN_HAS_FIELD(o, cuda_tile) && o->cuda_tile ? o->cuda_tile : "";
  try {
    return cuda::cuda_target(options_backend(o), arch, tile, "options.cuda_arch", "options.cuda_tile");
  } catch (const Error& e) {
    throw ApiError(ATTNGEN_ERR_INVALID_ARGUMENT, e.what());
  }
}

void check_options(const attngen_compile_options* o) {
  if (!o) return;
  const size_t need = offsetof(attngen_compile_options, threads) + sizeof o->threads;
  if (o->struct_size < need)
    throw ApiError(ATTNGEN_ERR_INVALID_ARGUMENT, "options.struct_size: must be at least " + std::to_string(need) +
                                                     ", got " + std::to_string(o->struct_size) +
                                                     " (call attngen_compile_options_init first)");
  if (o->threads < 0)
    throw ApiError(ATTNGEN_ERR_INVALID_ARGUMENT, "options.threads: must be >= 0, got " + std::to_string(o->threads));
}

attngen_kernel* new_handle(std::shared_ptr<const Kernel> kernel, const attngen_compile_options* o) {
  attngen_kernel* h = kernel_pool().acquire();
  h->kernel = std::move(kernel);
  h->threads = o ? o->threads : 0;
  h->refs.store(1, std::memory_order_relaxed);
  return h;
}

TensorRef to_ref(const char* name, const attngen_tensor& t) {
  TensorRef r;
  if (t.data == nullptr && t.rank == 0) return r;  // absent
  // A C caller may store any int in the enum: read it as one.
  int code;
  static_assert(sizeof code == sizeof t.dtype);
  std::memcpy(&code, &t.dtype, sizeof code);
  switch (code) {
    case ATTNGEN_F32: r.type = ElemType::f32; break;
    case ATTNGEN_F16: r.type = ElemType::f16; break;
    case ATTNGEN_BF16: r.type = ElemType::bf16; break;
    case ATTNGEN_I32: r.type = ElemType::i32; break;
    case ATTNGEN_U8: r.type = ElemType::u8; break;
    case ATTNGEN_BOOL: r.type = ElemType::b8; break;
    default:
      throw ApiError(ATTNGEN_ERR_INVALID_ARGUMENT,
                     std::string(name) + ": unknown dtype code " + std::to_string(code) + " (expected 0-5)");
  }
  if (t.rank < 0 || t.rank > ATTNGEN_MAX_RANK)
    throw ApiError(ATTNGEN_ERR_INVALID_ARGUMENT,
                   std::string(name) + ": rank must be in [0, 4], got " + std::to_string(t.rank));
  r.data = t.data;
  r.rank = t.rank;
  for (int d = 0; d < t.rank; ++d) r.shape[d] = t.shape[d], r.stride[d] = t.strides[d];
  return r;
}

// A caller's struct may be larger than this library's (a newer header), but
// not by this factor: such a size is a binding's mistake, and reading or
// zeroing that many bytes would run off its memory.
constexpr size_t kMaxStructGrowth = 16;

// The caller's args struct of `size` bytes as this library's: tensors the
// caller's struct ends before are empty; fields of a newer caller's struct
// that this library does not know must be unset (they would be ignored).
attngen_args args_of(const attngen_args* args, size_t size) {
  require(args, "args");
  constexpr size_t need = offsetof(attngen_args, o) + sizeof(attngen_tensor);
  if (size < need || size > kMaxStructGrowth * sizeof(attngen_args))
    throw ApiError(ATTNGEN_ERR_INVALID_ARGUMENT, "args_size: must be at least " + std::to_string(need) +
                                                     " (q, k, v and o) and at most " +
                                                     std::to_string(kMaxStructGrowth * sizeof(attngen_args)) +
                                                     ", got " + std::to_string(size));
  attngen_args a{};
  std::memcpy(&a, args, std::min(size, sizeof a));
  const auto* bytes = reinterpret_cast<const unsigned char*>(args);
  for (size_t i = sizeof a; i < size; ++i)
    if (bytes[i])
      throw ApiError(ATTNGEN_ERR_INVALID_ARGUMENT,
                     "args: fields past the " + std::to_string(sizeof a) + " bytes this library knows are set (byte " +
                         std::to_string(i) + " of " + std::to_string(size) +
                         "): the caller was built against a newer attngen.h than this libattngen " + kVersion);
  return a;
}

// Converts and checks `a` (args_of's) against the kernel's spec (Kernel::bind).
BoundArgs bind(const Kernel& k, const attngen_args* a, Memory memory = Memory::host) {
  AttentionArgs t;
  t.memory = memory;
  t.q = to_ref("q", a->q), t.k = to_ref("k", a->k), t.v = to_ref("v", a->v);
  t.o = to_ref("o", a->o), t.lse = to_ref("lse", a->lse);
  t.q_lens = to_ref("q_lens", a->q_lens), t.kv_lens = to_ref("kv_lens", a->kv_lens);
  t.q_doc = to_ref("q_doc", a->q_doc), t.kv_doc = to_ref("kv_doc", a->kv_doc);
  t.mask = to_ref("mask", a->mask), t.alibi_slopes = to_ref("alibi_slopes", a->alibi_slopes);
  t.prefix_lens = to_ref("prefix_lens", a->prefix_lens);
  try {
    return k.bind(t);
  } catch (const Error& e) {
    throw ApiError(ATTNGEN_ERR_INVALID_ARGUMENT, e.what());
  }
}

struct StateRefs {
  std::vector<TensorRef> o_parts, lse_parts;
  TensorRef o, lse;
};

StateRefs state_refs(const attngen_tensor* o_parts, const attngen_tensor* lse_parts, int32_t num_parts,
                     const attngen_tensor* o, const attngen_tensor* lse) {
  if (num_parts < 1)
    throw ApiError(ATTNGEN_ERR_INVALID_ARGUMENT, "num_parts: must be >= 1, got " + std::to_string(num_parts));
  require(o_parts, "o_parts");
  require(lse_parts, "lse_parts");
  require(o, "o");
  StateRefs r;
  for (int32_t i = 0; i < num_parts; ++i) {
    // (std::string("["): GCC 12 warns a false -Wrestrict on literal + string&&.)
    const std::string index = std::string("[") + std::to_string(i) + "]";
    r.o_parts.push_back(to_ref(("o_parts" + index).c_str(), o_parts[i]));
    r.lse_parts.push_back(to_ref(("lse_parts" + index).c_str(), lse_parts[i]));
  }
  r.o = to_ref("o", *o);
  if (lse) r.lse = to_ref("lse", *lse);
  return r;
}

}  // namespace
}  // namespace attngen::capi

using namespace attngen;
using namespace attngen::capi;

extern "C" {

const char* attngen_version(void) { return kVersion; }

const char* attngen_status_string(attngen_status s) {
  switch (s) {
    case ATTNGEN_OK: return "ok";
    case ATTNGEN_ERR_INVALID_ARGUMENT: return "invalid argument";
    case ATTNGEN_ERR_INVALID_SPEC: return "invalid spec";
    case ATTNGEN_ERR_BACKEND: return "backend unavailable";
    case ATTNGEN_ERR_JIT_DISABLED: return "kernel not cached and JIT disabled";
    case ATTNGEN_ERR_INVALID_HANDLE: return "invalid handle";
    case ATTNGEN_ERR_IO: return "I/O error";
    case ATTNGEN_ERR_COMPILE: return "compile error";
    case ATTNGEN_ERR_OUT_OF_MEMORY: return "out of memory";
    case ATTNGEN_ERR_INTERNAL: return "internal error";
  }
  return "unknown status";
}

attngen_tensor attngen_tensor_contiguous(const void* data, attngen_dtype dtype, int32_t rank, const int64_t* shape) {
  attngen_tensor t{};
  t.data = data, t.dtype = dtype, t.rank = rank;
  // Strides past an overflow of int64 stay 0: such a shape holds more than
  // 2^63 elements, and attngen_kernel_run rejects it by its element count.
  int64_t stride = 1;
  bool overflow = false;
  for (int d = (rank > ATTNGEN_MAX_RANK ? ATTNGEN_MAX_RANK : rank) - 1; d >= 0 && shape; --d) {
    t.shape[d] = shape[d], t.strides[d] = overflow ? 0 : stride;
    overflow = overflow || __builtin_mul_overflow(stride, shape[d], &stride);
  }
  return t;  // a bad rank or shape is reported when the tensor is used
}

void attngen_compile_options_init_sized(attngen_compile_options* o, size_t size) {
  // Nothing to report through: a size it cannot take leaves struct_size
  // unset, which the compile then names.
  if (!o || size < sizeof o->struct_size || size > kMaxStructGrowth * sizeof *o) return;
  // The caller's bytes, however many: fields this library does not know are
  // zeroed too (their defaults are 0), none past `size` is touched.
  std::memset(static_cast<void*>(o), 0, size);
  o->struct_size = uint32_t(std::min<size_t>(size, UINT32_MAX));
}

attngen_status attngen_kernel_compile(const char* spec_json, const attngen_compile_options* options,
                                      attngen_kernel** out) {
  if (out) *out = nullptr;
  return guarded(ATTNGEN_ERR_COMPILE, [&] {
    require(out, "out");
    require(spec_json, "spec_json");
    check_options(options);
    *out = new_handle(
        process_cache().get(std::string(spec_json), options_backend(options), nullptr, options_target(options)),
        options);
  });
}

attngen_status attngen_kernel_compile_file(const char* spec_path, const attngen_compile_options* options,
                                           attngen_kernel** out) {
  if (out) *out = nullptr;
  return guarded(ATTNGEN_ERR_COMPILE, [&] {
    require(out, "out");
    require(spec_path, "spec_path");
    check_options(options);
    Spec spec;
    try {
      spec = load_spec_file(spec_path);
    } catch (const SpecError&) {
      throw;
    } catch (const Error& e) {
      throw ApiError(ATTNGEN_ERR_IO, e.what());
    }
    *out = new_handle(
        process_cache().get(spec, choose_backend(options_backend(options), spec, options_target(options))), options);
  });
}

attngen_status attngen_kernel_retain(attngen_kernel* kernel) {
  return guarded(ATTNGEN_ERR_INTERNAL, [&] { kernel_pool().check(kernel, "kernel")->refs.fetch_add(1); });
}

attngen_status attngen_kernel_release(attngen_kernel* kernel) {
  return guarded(ATTNGEN_ERR_INTERNAL, [&] {
    attngen_kernel* h = kernel_pool().check(kernel, "kernel");
    const int32_t before = h->refs.fetch_sub(1);
    if (before == 1) kernel_pool().release(h);
    if (before < 1) throw ApiError(ATTNGEN_ERR_INVALID_HANDLE, "kernel: released more often than retained");
  });
}

attngen_status attngen_kernel_get_info_sized(const attngen_kernel* kernel, attngen_kernel_info* out, size_t out_size) {
  return guarded(ATTNGEN_ERR_INTERNAL, [&] {
    attngen_kernel* h = kernel_pool().check(kernel, "kernel");
    require(out, "out");
    if (out_size > kMaxStructGrowth * sizeof(attngen_kernel_info))
      throw ApiError(ATTNGEN_ERR_INVALID_ARGUMENT,
                     "out_size: must be at most " + std::to_string(kMaxStructGrowth * sizeof(attngen_kernel_info)) +
                         ", got " + std::to_string(out_size));
    const Kernel& k = *h->kernel;
    const Spec& s = k.spec();
    {
      std::lock_guard<std::mutex> lock(h->info_mu);
      if (h->spec_json.empty()) h->spec_json = canonical_json(s);
    }
    attngen_kernel_info info{};
    info.key = k.key().c_str();
    info.backend = k.backend().c_str();
    info.isa = k.isa().c_str();
    info.spec = h->spec_json.c_str();
    info.writes_lse = s.return_lse;
    info.dtype = s.dtype == ElemType::f16 ? ATTNGEN_F16 : s.dtype == ElemType::bf16 ? ATTNGEN_BF16 : ATTNGEN_F32;
    info.num_heads = s.num_heads, info.num_kv_heads = s.num_kv_heads;
    info.head_dim = s.head_dim, info.head_dim_v = s.head_dim_v;
    info.layout_bshd = s.layout == Layout::bshd;
    // The caller's bytes only; a newer caller's fields this library does not know are 0.
    std::memcpy(static_cast<void*>(out), &info, std::min(out_size, sizeof info));
    if (out_size > sizeof info) std::memset(reinterpret_cast<unsigned char*>(out) + sizeof info, 0, out_size - sizeof info);
  });
}

attngen_status attngen_kernel_run_sized(const attngen_kernel* kernel, const attngen_args* caller_args, size_t args_size,
                                        int32_t threads) {
  return guarded(ATTNGEN_ERR_INTERNAL, [&] {
    const attngen_kernel* h = kernel_pool().check(kernel, "kernel");
    if (threads < 0)
      throw ApiError(ATTNGEN_ERR_INVALID_ARGUMENT, "threads: must be >= 0, got " + std::to_string(threads));
    const attngen_args args = args_of(caller_args, args_size);
    const BoundArgs bound = bind(*h->kernel, &args);
    h->kernel->execute(bound, RunOptions{threads ? threads : h->threads});
  });
}

attngen_status attngen_kernel_run_cuda_sized(const attngen_kernel* kernel, const attngen_args* caller_args,
                                             size_t args_size, void* stream) {
  return guarded(ATTNGEN_ERR_INTERNAL, [&] {
    const attngen_kernel* h = kernel_pool().check(kernel, "kernel");
    const attngen_args args = args_of(caller_args, args_size);
    const BoundArgs bound = bind(*h->kernel, &args, Memory::device);
    RunOptions opt;
    opt.stream = stream;
    h->kernel->execute(bound, opt);
  });
}

attngen_status attngen_kernel_prepare_sized(const attngen_kernel* kernel, const attngen_args* caller_args,
                                            size_t args_size, int32_t parts, attngen_call** out) {
  if (out) *out = nullptr;
  return guarded(ATTNGEN_ERR_INTERNAL, [&] {
    const attngen_kernel* h = kernel_pool().check(kernel, "kernel");
    require(out, "out");
    if (parts < 1) throw ApiError(ATTNGEN_ERR_INVALID_ARGUMENT, "parts: must be >= 1, got " + std::to_string(parts));
    const attngen_args args = args_of(caller_args, args_size);
    const BoundArgs bound = bind(*h->kernel, &args);
    std::unique_ptr<CallPlan> plan = h->kernel->plan(bound, parts);
    attngen_call* c = call_pool().acquire();
    c->kernel = h->kernel;
    c->items = plan->items();
    c->plan = std::move(plan);
    *out = c;
  });
}

attngen_status attngen_call_items(const attngen_call* call, size_t* out) {
  return guarded(ATTNGEN_ERR_INTERNAL, [&] {
    const attngen_call* c = call_pool().check(call, "call");
    require(out, "out");
    *out = c->items;
  });
}

attngen_status attngen_call_run_item(const attngen_call* call, size_t item) {
  return guarded(ATTNGEN_ERR_INTERNAL, [&] {
    const attngen_call* c = call_pool().check(call, "call");
    if (item >= c->items)
      throw ApiError(ATTNGEN_ERR_INVALID_ARGUMENT,
                     "item: must be < " + std::to_string(c->items) + " (the call's items), got " + std::to_string(item));
    c->plan->run_item(item);
  });
}

attngen_status attngen_call_release(attngen_call* call) {
  return guarded(ATTNGEN_ERR_INTERNAL, [&] { call_pool().release(call_pool().check(call, "call")); });
}

attngen_status attngen_merge_states(const attngen_tensor* o_parts, const attngen_tensor* lse_parts, int32_t num_parts,
                                    const attngen_tensor* o, const attngen_tensor* lse) {
  return guarded(ATTNGEN_ERR_INVALID_ARGUMENT, [&] {
    const StateRefs r = state_refs(o_parts, lse_parts, num_parts, o, lse);
    merge_states(r.o_parts, r.lse_parts, r.o, r.lse);
  });
}

attngen_status attngen_merge_states_cuda(const attngen_tensor* o_parts, const attngen_tensor* lse_parts,
                                         int32_t num_parts, const attngen_tensor* o, const attngen_tensor* lse,
                                         void* stream) {
  return guarded(ATTNGEN_ERR_INTERNAL, [&] {
    const StateRefs r = state_refs(o_parts, lse_parts, num_parts, o, lse);
    std::string why;
    if (!cuda::driver_library(&why)) throw ApiError(ATTNGEN_ERR_BACKEND, "cuda: " + why);
    cuda::merge_states_cuda(r.o_parts, r.lse_parts, r.o, r.lse, stream,
                            [](const std::string& module, const std::string& isa, const auto& build) {
                              return process_cache().module(module, isa, build);
                            });
  });
}

}  // extern "C"
