// C++ source -> relocatable object for one target, in process: clang as a
// library parses and optimises (-O3), LLVM's code generator emits the object.
// The same object is what the JIT loads (runtime/llvm) and what
// `attngen compile --backend llvm --emit kernel.o` writes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attngen::llvmgen {

// What an object is compiled for: an LLVM target triple, a CPU name and
// explicit features ("+avx512f,-avx512fp16", may be empty).
struct TargetSpec {
  std::string triple;
  std::string cpu;
  std::string features;

  std::string name() const;  // "x86_64-unknown-linux-gnu/znver4"
};

// The machine this process runs on, as LLVM sees it.
TargetSpec host_target();
// A named triple ("x86_64-linux-gnu", "aarch64-linux-gnu") and CPU ("" = the
// triple's generic CPU). Throws Error for a triple LLVM cannot generate code for.
TargetSpec cross_target(const std::string& triple, const std::string& cpu);

// Widest f32 vector the target's registers hold (16 with AVX-512, 8 with
// AVX/AVX2, 4 with SSE or NEON).
int f32_lanes(const TargetSpec& t);
bool has_feature(const TargetSpec& t, const std::string& feature);  // "avx512f"

// The LLVM release compiled in ("16.0.6").
std::string llvm_version();

// Compiles `source` (C++17, freestanding, no includes) to an ELF object.
// Throws Error carrying clang's diagnostics on failure.
std::vector<uint8_t> compile_to_object(const std::string& source, const TargetSpec& target);

}  // namespace attngen::llvmgen
