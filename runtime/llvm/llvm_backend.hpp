// The llvm backend: portable CPU kernels rendered from templates/llvm and
// compiled in process by clang/LLVM for this machine's vector ISA (AVX-512,
// AVX2, SSE, NEON). Optional at build time: without LLVM it is listed and
// says why it is unavailable.
#pragma once

#include <string>

#include "runtime/core/backend.hpp"

namespace attngen {

const Backend& llvm_backend();

namespace llvmgen {
// "llvm 16.0.6, host x86_64-pc-linux-gnu/znver5 (16 f32 lanes)" or why not.
std::string environment_summary();
}  // namespace llvmgen

}  // namespace attngen
