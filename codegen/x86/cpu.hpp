// x86 instruction-set levels the generators target, detected at run time and
// capped by ATTNGEN_MAX_ISA (avx2 | avx512 | none), like ONEDNN_MAX_CPU_ISA.
#pragma once

#include <string>

namespace attngen::x86 {

enum class Isa { none, avx2, avx512 };

struct CpuInfo {
  Isa isa = Isa::none;      // best usable level after the cap
  bool f16c = false;        // vcvtph2ps / vcvtps2ph
  bool avx512_bf16 = false;
  bool avx512_fp16 = false;
  // bf16 specs use vdpbf16ps (pair-interleaved bf16 packs) rather than f32
  // FMAs on converted data: where the CPU has AVX512_BF16 and issues it at the
  // FMA rate (AMD Zen 4/5: twice the FLOPs of an f32 FMA). Intel cores issue it
  // at a quarter of that rate (one every two cycles), below the f32 FMAs.
  // ATTNGEN_BF16_DOT=1|0 overrides (for tests and comparisons).
  bool bf16_dot = false;
  std::string features;     // detected features, for `attngen info`
  std::string why_not;      // why isa is none or capped, for error messages
  std::string setting_error;  // an invalid ATTNGEN_MAX_ISA value (then isa is none)

  // What the x86 generators emit for on this machine: the ISA level and the
  // choices that change generated code ("avx2", "avx512", "avx512+bf16dot").
  // It enters every cache key of the x86 backend.
  std::string target() const;
};

const CpuInfo& cpu_info();
const char* isa_name(Isa isa);

}  // namespace attngen::x86
