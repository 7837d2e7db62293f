// Spec -> C++ source for CPUs: one template (templates/llvm/attention_cpu.cpp)
// with the spec's masks and score mods rendered in as compile-time constants
// and small functions, its SIMD width and tile shape chosen for the target.
// The object compiled from it (object_compiler.hpp) exports four C functions,
// named from `symbol_prefix`:
//   int64_t <prefix>items(const AttnParams*)            work items of a call
//   int64_t <prefix>scratch_bytes(void)                 scratch one running item needs
//   void    <prefix>run_item(const AttnParams*, int64_t item, void* scratch)
//   void    <prefix>run(const AttnParams*, void* scratch)   every item, in order
// AttnParams is templates/common/attention_params.h (shared with the CUDA kernels).
#pragma once

#include <string>

#include "codegen/llvm/object_compiler.hpp"
#include "codegen/spec/spec.hpp"

namespace attngen::llvmgen {

struct CpuTiles {
  int lanes = 0;    // f32 per vector register
  int block_m = 0;  // query rows per work item (the lanes of AG_RV vectors)
  int block_n = 0;  // keys per block of the online softmax
  int nr = 0;       // keys (QK) or V columns (PV) per register tile
};
CpuTiles tiles_for(const TargetSpec& target);

struct RenderedCpuKernel {
  std::string source;         // complete C++ text (no includes)
  std::string symbol_prefix;  // e.g. "attngen_f32_d128_dv128_g4_1a2b3c4d_"
  CpuTiles tiles;
  std::string description;    // one line for dumps and `attngen compile`
};

// `symbol_prefix`: "" for one spelled from the spec (with a hash of it);
// otherwise a C identifier (checked: Error naming --prefix otherwise).
RenderedCpuKernel render_cpu_attention(const Spec& spec, const TargetSpec& target,
                                       const std::string& symbol_prefix = "");

// The C header of an ahead-of-time object: the spec and target it was built
// for, AttnParams, and the four entry points' declarations. No includes.
std::string render_aot_header(const Spec& spec, const TargetSpec& target, const RenderedCpuKernel& kernel);

}  // namespace attngen::llvmgen
