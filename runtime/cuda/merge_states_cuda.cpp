#include "runtime/cuda/merge_states_cuda.hpp"

#include <map>
#include <mutex>
#include <string>

#include "attngen_cuda_templates.hpp"
#include "codegen/cuda/render.hpp"
#include "runtime/core/error.hpp"
#include "runtime/core/merge_states.hpp"
#include "runtime/cuda/driver_library.hpp"
#include "runtime/cuda/nvrtc_compiler.hpp"
#include "runtime/cuda/nvrtc_library.hpp"
#include "templates/common/merge_params.h"

namespace attngen::cuda {
namespace {

static_assert(sizeof(AgMergeParams) <= 4096, "a launch argument of at most 4 KiB");

// The current context's device's arch ("sm_90a" on Hopper, as the kernels').
Arch context_arch() {
  const DriverLibrary& d = driver();
  CUdevice dev = 0;
  check(d.CtxGetDevice(&dev), "cuda: cuCtxGetDevice");
  int major = 0, minor = 0;
  check(d.DeviceGetAttribute(&major, kAttrComputeCapabilityMajor, dev), "cuda: cuDeviceGetAttribute");
  check(d.DeviceGetAttribute(&minor, kAttrComputeCapabilityMinor, dev), "cuda: cuDeviceGetAttribute");
  if (major < 8)
    throw Error("cuda: the current device is sm_" + std::to_string(major) + std::to_string(minor) +
                "; attngen's CUDA kernels need sm_80 or newer");
  return Arch{major * 10 + minor, major >= 9};
}

// The module's cubin for each arch, compiled or loaded once a process; the
// function loaded in each context (by id: a handle may name a newer context).
struct Modules {
  std::mutex mu;
  std::map<std::string, std::vector<uint8_t>> cubins;  // by arch
  struct Loaded {
    unsigned long long ctx_id;
    CUmodule module;
    CUfunction function;
  };
  std::map<CUcontext, Loaded> loaded;
};
Modules& modules() {
  static Modules* m = new Modules;  // never destroyed: modules go with their contexts
  return *m;
}

std::string module_isa(const Arch& arch) {
  std::string why;
  const NvrtcLibrary* lib = nvrtc_library(&why);
  if (!lib) throw Error(std::string("cuda: cannot build ") + kMergeStatesEntry + ": " + why);
  return arch.name() + "/nvrtc-" + lib->version() + "/tpl-" + std::string(kTemplatesHash).substr(0, 8);
}

std::vector<uint8_t> build_module(const Arch& arch) {
  const RenderedModule r = render_merge_states(arch);
  std::vector<uint8_t> cubin = nvrtc_compile(r.source, r.entry + ".cu", r.options, arch.name(),
                                             std::string("cuda module ") + r.entry + " for " + arch.name())
                                   .cubin;
  if (cubin.empty()) throw Error("cuda: NVRTC returned no cubin for " + r.entry + " (" + arch.name() + ")");
  return cubin;
}

// m.mu held.
const std::vector<uint8_t>& cubin_for(Modules& m, const Arch& arch, const ModuleSource& source, std::string* isa) {
  const std::string module_isa_text = module_isa(arch);
  if (isa) *isa = module_isa_text;
  std::vector<uint8_t>& cubin = m.cubins[arch.name()];
  if (cubin.empty()) {
    const auto build = [&] { return build_module(arch); };
    cubin = source ? source(kMergeStatesModule, module_isa_text, build) : build();
    if (cubin.empty()) throw Error(std::string("cuda: no cubin for ") + kMergeStatesEntry + " (" + arch.name() + ")");
  }
  return cubin;
}

CUfunction merge_function(CUcontext ctx, const ModuleSource& source) {
  Modules& m = modules();
  const unsigned long long id = context_id(ctx);
  std::lock_guard<std::mutex> lock(m.mu);
  if (auto it = m.loaded.find(ctx); it != m.loaded.end()) {
    if (it->second.ctx_id == id) return it->second.function;
    m.loaded.erase(it);  // its context was destroyed, and the module with it
  }
  const Arch arch = context_arch();
  const std::vector<uint8_t>& cubin = cubin_for(m, arch, source, nullptr);
  const DriverLibrary& d = driver();
  CUmodule mod = nullptr;
  check(d.ModuleLoadData(&mod, cubin.data()), std::string("cuda: loading ") + kMergeStatesEntry + " for " + arch.name());
  CUfunction f = nullptr;
  if (const CUresult r = d.ModuleGetFunction(&f, mod, kMergeStatesEntry); r != 0) {
    d.ModuleUnload(mod);
    check(r, std::string("cuda: kernel entry '") + kMergeStatesEntry + "'");
  }
  m.loaded[ctx] = Modules::Loaded{id, mod, f};
  return f;
}

int state_dtype(ElemType t) {
  return t == ElemType::f16 ? AG_STATE_F16 : t == ElemType::bf16 ? AG_STATE_BF16 : AG_STATE_F32;
}

// `t` as [L0, L1, L2, Dv] (o) or [L0, L1, L2] (lse): leading extents padded with 1, stride 0.
AgStateView state_view(const TensorRef& o, const TensorRef& lse, int lead_rank) {
  AgStateView v{};
  v.o = const_cast<void*>(o.data);
  v.lse = lse.present() ? lse.mut<float>() : nullptr;
  v.dtype = state_dtype(o.type);
  const int pad = 3 - lead_rank;
  for (int d = 0; d < lead_rank; ++d) {
    v.o_str[pad + d] = o.stride[d];
    if (lse.present()) v.lse_str[pad + d] = lse.stride[d];
  }
  v.o_str[3] = o.stride[lead_rank];
  return v;
}

}  // namespace

const std::vector<uint8_t>& merge_states_module(const Arch& arch, const ModuleSource& source, std::string* isa) {
  Modules& m = modules();
  std::lock_guard<std::mutex> lock(m.mu);
  return cubin_for(m, arch, source, isa);  // kept in m.cubins for the process
}

void merge_states_cuda(const std::vector<TensorRef>& o_parts, const std::vector<TensorRef>& lse_parts,
                       const TensorRef& o, const TensorRef& lse, void* stream, const ModuleSource& source) {
  MergeShape shape;
  try {
    shape = check_merge_states(o_parts, lse_parts, o, lse);
  } catch (const ArgumentError&) {
    throw;
  } catch (const Error& e) {
    throw ArgumentError(e.what());
  }
  if (o_parts.size() > AG_MERGE_MAX_PARTS)
    throw ArgumentError("num_parts: at most " + std::to_string(AG_MERGE_MAX_PARTS) + " on a CUDA device, got " +
                        std::to_string(o_parts.size()) + " (merge them in groups: the merge of merges is the merge)");
  const int64_t blocks = (shape.rows + kMergeStatesThreads / 32 - 1) / (kMergeStatesThreads / 32);
  if (shape.dv > (int64_t(1) << 30) || blocks > INT32_MAX)
    throw ArgumentError("o: shape " + shape_string(o) + " is past what one launch merges (2^31 blocks of " +
                        std::to_string(kMergeStatesThreads / 32) + " rows, Dv up to 2^30)");
  if (shape.rows == 0) return;  // nothing to merge (an empty grid is a launch error)
  const CUcontext ctx = ensure_context();
  // Empty views (no columns) may have no data pointer: check_merge_states
  // refused a null one anywhere else.
  for (size_t i = 0; i < o_parts.size(); ++i) {
    if (o_parts[i].data) check_device_pointer(("o_parts[" + std::to_string(i) + "]").c_str(), o_parts[i].data);
    check_device_pointer(("lse_parts[" + std::to_string(i) + "]").c_str(), lse_parts[i].data);
  }
  if (o.data) check_device_pointer("o", o.data);
  if (lse.present()) check_device_pointer("lse", lse.data);
  const CUfunction f = merge_function(ctx, source);

  AgMergeParams p{};
  p.out = state_view(o, lse, shape.lead_rank);
  for (size_t i = 0; i < o_parts.size(); ++i) p.part[i] = state_view(o_parts[i], lse_parts[i], shape.lead_rank);
  for (int d = 0; d < 3; ++d) p.lead[d] = 1;
  for (int d = 0; d < shape.lead_rank; ++d) p.lead[3 - shape.lead_rank + d] = o.shape[d];
  p.rows = shape.rows;
  p.dv = int(shape.dv);
  p.parts = int(o_parts.size());
  void* params[] = {&p};
  check(driver().LaunchKernel(f, unsigned(blocks), 1, 1, kMergeStatesThreads, 1, 1, 0, static_cast<CUstream>(stream),
                              params, nullptr),
        std::string("cuda: launching ") + kMergeStatesEntry);
}

}  // namespace attngen::cuda
