#include "codegen/x86/jit_generator.hpp"

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <unistd.h>
#include <string>

#include "runtime/core/error.hpp"

namespace attngen::x86 {

void JitGenerator::preamble() {
  push(rbx);
  push(rbp);
  push(r12);
  push(r13);
  push(r14);
  push(r15);
}

void JitGenerator::postamble() {
  vzeroupper();
  pop(r15);
  pop(r14);
  pop(r13);
  pop(r12);
  pop(rbp);
  pop(rbx);
  ret();
}

void JitGenerator::load_f32(ElemType type, const Xbyak::Xmm& dst, const Xbyak::Address& addr, bool tail) {
  const Xbyak::Xmm d = tail ? (dst | k1 | T_z) : dst;
  switch (type) {
    case ElemType::f16: vcvtph2ps(d, addr); break;
    case ElemType::bf16:
      vpmovzxwd(d, addr);
      vpslld(dst, dst, 16);
      break;
    default: vmovups(d, addr); break;
  }
}

void JitGenerator::round_ps(const Xbyak::Xmm& dst, const Xbyak::Xmm& src) {
  if (zmm_) vrndscaleps(dst, src, 0);
  else vroundps(dst, src, 0);
}

void JitGenerator::set_tail_mask(int n, const Xbyak::Reg32& tmp) {
  mov(tmp, (1u << n) - 1);
  kmovw(k1, tmp);
}

void JitGenerator::finish_generation() {
  try {
    generate();
    readyRE();
  } catch (const Xbyak::Error& e) {
    throw Error(std::string("x86 code generation of ") + name_ + " failed: " + e.what());
  }
  if (const char* map = std::getenv("ATTNGEN_PERF_MAP"); map && *map == '1') {
    // perf's JIT symbol map: samples in generated code get the kernel's name.
    static std::mutex mu;
    std::lock_guard<std::mutex> lock(mu);
    if (FILE* f = std::fopen(("/tmp/perf-" + std::to_string(getpid()) + ".map").c_str(), "a")) {
      std::fprintf(f, "%llx %zx attngen_%s\n", (unsigned long long)(uintptr_t)getCode(), getSize(), name_);
      std::fclose(f);
    }
  }
}

}  // namespace attngen::x86

namespace attngen::x86 {

void emit_row_loop(Xbyak::CodeGenerator& g, const Xbyak::Reg64& rows, int mr_max,
                   const std::function<void(int)>& body, const std::function<void(int)>& advance) {
  Xbyak::Label full, tail, done;
  g.L(full);
  g.cmp(rows, mr_max);
  g.jl(tail, Xbyak::CodeGenerator::T_NEAR);
  body(mr_max);
  advance(mr_max);
  g.sub(rows, mr_max);
  g.jmp(full, Xbyak::CodeGenerator::T_NEAR);
  g.L(tail);
  std::vector<Xbyak::Label> variants(static_cast<size_t>(mr_max));
  for (int mr = 1; mr < mr_max; ++mr) {
    g.cmp(rows, mr);
    g.je(variants[size_t(mr)], Xbyak::CodeGenerator::T_NEAR);
  }
  g.jmp(done, Xbyak::CodeGenerator::T_NEAR);
  for (int mr = 1; mr < mr_max; ++mr) {
    g.L(variants[size_t(mr)]);
    body(mr);
    g.jmp(done, Xbyak::CodeGenerator::T_NEAR);
  }
  g.L(done);
}

}  // namespace attngen::x86
