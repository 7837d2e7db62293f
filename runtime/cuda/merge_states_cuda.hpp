// attngen_merge_states_cuda: the merge of partial attention states
// (runtime/core/merge_states.hpp) on device pointers, one launch on the
// caller's stream. The module (codegen/cuda render_merge_states: one for every
// dtype, shape and part count) is compiled with NVRTC for the current
// context's device on the first call of a process and kept in the disk cache
// beside the kernels, so later processes load it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "codegen/cuda/render.hpp"
#include "runtime/core/tensor.hpp"

namespace attngen::cuda {

// Where the module's cubin comes from: given the module's name, its ISA
// ("sm_90a/nvrtc-13.0/tpl-1a2b3c4d") and how to build it, the bytes (the C
// API and the CLI pass the process cache's KernelCache::module; an empty
// function: build).
using ModuleSource = std::function<std::vector<uint8_t>(
    const std::string& module, const std::string& isa, const std::function<std::vector<uint8_t>()>& build)>;

// The module's name in caches.
constexpr const char* kMergeStatesModule = "cuda_merge_states";

// As merge_states, on device memory, in f32 (within 1e-6 of the host merge's
// double in f32; one rounding of the output dtype in f16/bf16), with at most
// AG_MERGE_MAX_PARTS (32) parts. Checks every tensor (merge_states' checks,
// and that the driver knows each pointer) before launching; returns without
// waiting. Throws Error (ArgumentError for pointers) naming the tensor.
void merge_states_cuda(const std::vector<TensorRef>& o_parts, const std::vector<TensorRef>& lse_parts,
                       const TensorRef& o, const TensorRef& lse, void* stream, const ModuleSource& source);

// The module's cubin for `arch` (compiled with NVRTC, or from `source`), kept
// for the process; `attngen compile --backend cuda` calls it so that the disk
// cache holds it before a process that may not compile (ATTNGEN_DISABLE_JIT)
// needs it. Sets *isa to the module's ISA when given.
const std::vector<uint8_t>& merge_states_module(const Arch& arch, const ModuleSource& source,
                                                std::string* isa = nullptr);

}  // namespace attngen::cuda
