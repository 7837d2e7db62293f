#include "codegen/x86/cpu.hpp"

#include <cstdlib>
#include <cstring>
#include <xbyak/xbyak_util.h>

namespace attngen::x86 {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
    default: return "none";
  }
}

namespace {

CpuInfo detect() {
  CpuInfo info;
  const Xbyak::util::Cpu cpu;
  using C = Xbyak::util::Cpu;
  const std::pair<C::Type, const char*> named[] = {
      {C::tAVX2, "avx2"},         {C::tFMA, "fma"},           {C::tF16C, "f16c"},
      {C::tAVX512F, "avx512f"},   {C::tAVX512BW, "avx512bw"}, {C::tAVX512VL, "avx512vl"},
      {C::tAVX512DQ, "avx512dq"}, {C::tAVX512_BF16, "avx512_bf16"}, {C::tAVX512_FP16, "avx512_fp16"}};
  for (const auto& [t, n] : named)
    if (cpu.has(t)) info.features += std::string(info.features.empty() ? "" : " ") + n;
  info.f16c = cpu.has(C::tF16C);
  info.avx512_bf16 = cpu.has(C::tAVX512_BF16);
  info.avx512_fp16 = cpu.has(C::tAVX512_FP16);
  const bool avx2 = cpu.has(C::tAVX2) && cpu.has(C::tFMA) && cpu.has(C::tF16C);
  const bool avx512 = avx2 && cpu.has(C::tAVX512F) && cpu.has(C::tAVX512BW) && cpu.has(C::tAVX512VL) &&
                      cpu.has(C::tAVX512DQ);
  info.isa = avx512 ? Isa::avx512 : avx2 ? Isa::avx2 : Isa::none;
  if (info.isa == Isa::none) info.why_not = "this CPU lacks AVX2+FMA+F16C (detected: " + info.features + ")";
  if (const char* cap = std::getenv("ATTNGEN_MAX_ISA")) {
    const Isa want = std::strcmp(cap, "avx512") == 0 ? Isa::avx512
                     : std::strcmp(cap, "avx2") == 0 ? Isa::avx2
                                                     : Isa::none;
    if (int(want) < int(info.isa)) {
      info.isa = want;
      info.why_not = std::string("capped by ATTNGEN_MAX_ISA=") + cap;
    }
  }
  info.bf16_dot = info.isa == Isa::avx512 && info.avx512_bf16 && cpu.has(C::tAMD);
  if (const char* dot = std::getenv("ATTNGEN_BF16_DOT"); dot && *dot)
    info.bf16_dot = info.isa == Isa::avx512 && info.avx512_bf16 && std::strcmp(dot, "0") != 0;
  return info;
}

}  // namespace

std::string CpuInfo::target() const { return std::string(isa_name(isa)) + (bf16_dot ? "+bf16dot" : ""); }

const CpuInfo& cpu_info() {
  static const CpuInfo info = detect();
  return info;
}

}  // namespace attngen::x86
