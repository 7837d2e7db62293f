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
  std::string features;     // detected features, for `attngen info`
  std::string why_not;      // why isa is none or capped, for error messages
};

const CpuInfo& cpu_info();
const char* isa_name(Isa isa);

}  // namespace attngen::x86
