#include "codegen/x86/cpu.hpp"

#include <cstdlib>
#include <cctype>
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
  if (const char* cap = std::getenv("ATTNGEN_MAX_ISA"); cap && *cap) {
    const bool known = !std::strcmp(cap, "avx512") || !std::strcmp(cap, "avx2") || !std::strcmp(cap, "none");
    if (!known) {
      // A typo must not quietly turn the x86 backend off (auto would run the
      // float64 reference): every backend selection reports it.
      std::string shown;
      for (const char* c = cap; *c && shown.size() < 40; ++c)
        shown += std::isprint(static_cast<unsigned char>(*c)) ? std::string(1, *c) : "?";
      if (std::strlen(cap) > 40) shown += "...";
      info.setting_error = "ATTNGEN_MAX_ISA=" + shown + ": expected avx2, avx512 or none";
      info.isa = Isa::none;
      info.why_not = info.setting_error;
      return info;
    }
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
