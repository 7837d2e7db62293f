// The llvm backend: portable CPU kernels rendered from templates/llvm and
// compiled in process by clang/LLVM for this machine's vector ISA (AVX-512,
// AVX2, SSE, NEON). Optional at build time: without LLVM it is listed and
// says why it is unavailable.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/backend.hpp"

namespace attngen {

const Backend& llvm_backend();

namespace llvmgen {

// An object compiled ahead of time (`attngen compile --backend llvm --emit`).
struct AotObject {
  std::vector<uint8_t> object;  // ELF relocatable
  std::string header;           // C declarations of its entry points (render_aot_header)
  std::string target;           // "aarch64-unknown-linux-gnu/generic"
  std::string description;      // vector width and tile shape
  std::string symbol_prefix;
};
// Compiles `spec` for `triple` (empty: this machine, capped by
// ATTNGEN_MAX_ISA) and `cpu` (empty: the triple's generic CPU, or this
// machine's). `symbol_prefix` "" spells one from the spec. Throws Error when
// LLVM is not built in or the target is unknown.
AotObject compile_ahead_of_time(const Spec& spec, const std::string& triple, const std::string& cpu,
                                const std::string& symbol_prefix);

// "llvm 16.0.6, host x86_64-pc-linux-gnu/znver5 (16 f32 lanes)" or why not.
std::string environment_summary();
}  // namespace llvmgen

}  // namespace attngen
