#include "codegen/x86/jit_generator.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
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

void JitGenerator::load_f32(ElemType type, const Xbyak::Xmm& dst, const Xbyak::Address& addr, int mask) {
  const Xbyak::Xmm d = mask ? (dst | Xbyak::Opmask(mask) | T_z) : dst;
  switch (type) {
    case ElemType::f16: vcvtph2ps(d, addr); break;
    case ElemType::bf16:
      vpmovzxwd(d, addr);
      vpslld(dst, dst, 16);
      break;
    default: vmovups(d, addr); break;
  }
}

void JitGenerator::emit_f32_constant(Xbyak::Label& label, float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  align(4);
  L(label);
  dd(bits);
}

void JitGenerator::set_tail_mask(int n, const Xbyak::Reg32& tmp) {
  mov(tmp, (1u << n) - 1);
  kmovw(k1, tmp);
}

void JitGenerator::reduce16(int first, int temp, bool max) {
  using Xbyak::Zmm;
  const Zmm t(temp);
  auto z = [&](int i) { return Zmm(first + i); };
  auto op = [&](const Zmm& a, const Zmm& b) { max ? vmaxps(a, a, b) : vaddps(a, a, b); };
  // 16 -> 8 registers: each keeps 8 partials of two registers (256-bit halves).
  for (int i = 0; i < 16; i += 2) {
    vshuff32x4(t, z(i), z(i + 1), 0x44);
    vshuff32x4(z(i), z(i), z(i + 1), 0xEE);
    op(z(i), t);
  }
  // 8 -> 4: each 128-bit lane holds 4 partials of one register.
  for (int i = 0; i < 16; i += 4) {
    vshuff32x4(t, z(i), z(i + 2), 0x88);
    vshuff32x4(z(i), z(i), z(i + 2), 0xDD);
    op(z(i), t);
  }
  // 4 -> 2: two partials of each of two registers per 128-bit lane.
  for (int i = 0; i < 16; i += 8) {
    vunpcklpd(t, z(i), z(i + 4));
    vunpckhpd(z(i), z(i), z(i + 4));
    op(z(i), t);
  }
  // 2 -> 1: lane 4i + t holds the reduction of register 4t + i.
  vshufps(t, z(0), z(8), 0x88);
  vshufps(z(0), z(0), z(8), 0xDD);
  op(z(0), t);
}

void JitGenerator::transpose16(int first, int temp) {
  using Xbyak::Zmm;
  auto a = [&](int i) { return Zmm(first + i); };
  auto t = [&](int i) { return Zmm(temp + i); };
  // Pairs of rows interleaved by 32 bits: t(i), t(i + 1) hold, per 128-bit
  // lane L, rows i and i + 1 at columns 4L, 4L + 1 and 4L + 2, 4L + 3.
  for (int i = 0; i < 16; i += 2) {
    vunpcklps(t(i), a(i), a(i + 1));
    vunpckhps(t(i + 1), a(i), a(i + 1));
  }
  // Then by 64 bits: a(i + c) holds, per lane L, rows i..i+3 of column 4L + c.
  for (int i = 0; i < 16; i += 4) {
    vunpcklpd(a(i), t(i), t(i + 2));
    vunpckhpd(a(i + 1), t(i), t(i + 2));
    vunpcklpd(a(i + 2), t(i + 1), t(i + 3));
    vunpckhpd(a(i + 3), t(i + 1), t(i + 3));
  }
  // 128-bit lanes: rows 0-7 (t(c), t(4 + c)) and 8-15 (t(8 + c), t(12 + c))
  // of columns c, 4 + c (lanes 0-1) and 8 + c, 12 + c (lanes 2-3), then the
  // four row groups of each column together.
  for (int c = 0; c < 4; ++c) {
    vshuff32x4(t(c), a(c), a(4 + c), 0x44);
    vshuff32x4(t(4 + c), a(c), a(4 + c), 0xEE);
    vshuff32x4(t(8 + c), a(8 + c), a(12 + c), 0x44);
    vshuff32x4(t(12 + c), a(8 + c), a(12 + c), 0xEE);
  }
  for (int c = 0; c < 4; ++c) {
    vshuff32x4(a(c), t(c), t(8 + c), 0x88);
    vshuff32x4(a(4 + c), t(c), t(8 + c), 0xDD);
    vshuff32x4(a(8 + c), t(4 + c), t(12 + c), 0x88);
    vshuff32x4(a(12 + c), t(4 + c), t(12 + c), 0xDD);
  }
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

void emit_step_loop(Xbyak::CodeGenerator& g, const Xbyak::Reg64& count, int unroll,
                    const std::function<void(int)>& step, const std::function<void(int)>& advance) {
  Xbyak::Label unrolled, single, done;
  g.L(unrolled);
  g.cmp(count, unroll);
  g.jl(single, Xbyak::CodeGenerator::T_NEAR);
  for (int u = 0; u < unroll; ++u) step(u);
  advance(unroll);
  g.sub(count, unroll);
  g.jmp(unrolled, Xbyak::CodeGenerator::T_NEAR);
  g.L(single);
  g.test(count, count);
  g.jz(done, Xbyak::CodeGenerator::T_NEAR);
  step(0);
  advance(1);
  g.dec(count);
  g.jmp(single, Xbyak::CodeGenerator::T_NEAR);
  g.L(done);
}

}  // namespace attngen::x86
