// Base of every generated x86 kernel: one class per kernel, a generate()
// that emits it, an auto-growing buffer that is writable while emitting and
// read+execute afterwards (never both: W^X through readyRE()). ATTNGEN_DUMP
// is handled by the kernel cache (X86Kernel::code_blobs, runtime/cache/dump).
//
// One class serves both vector ISAs: vmm(i) is ymm i (AVX2) or zmm i
// (AVX-512), and the few instructions that differ have helpers here.
#pragma once

#include <functional>
#include <string>
#include <xbyak/xbyak.h>

#include "codegen/x86/cpu.hpp"
#include "runtime/core/dtype.hpp"

namespace attngen::x86 {

class JitGenerator : public Xbyak::CodeGenerator {
 public:
  JitGenerator(const char* name, Isa isa)
      : Xbyak::CodeGenerator(4096, Xbyak::AutoGrow), name_(name), zmm_(isa == Isa::avx512) {}
  const char* name() const { return name_; }

 protected:
  // Emits the code and seals it read+execute. Call once from the
  // derived constructor after its members are set; throws attngen::Error.
  void finish_generation();
  virtual void generate() = 0;

  // System V: callee-saved registers the kernels use.
  void preamble();
  void postamble();

  bool zmm() const { return zmm_; }
  int lanes() const { return zmm_ ? 16 : 8; }  // f32 lanes of one vector register
  int vbytes() const { return lanes() * 4; }
  Xbyak::Xmm vmm(int i) const { return zmm_ ? Xbyak::Xmm(Xbyak::Zmm(i)) : Xbyak::Xmm(Xbyak::Ymm(i)); }
  // `dst` = lanes() f32 values from `type` elements at `addr`, converted on
  // load. With `mask` k1-k7 (AVX-512), only the lanes set in it are read; the others are 0.
  void load_f32(ElemType type, const Xbyak::Xmm& dst, const Xbyak::Address& addr, int mask = 0);
  // k1 = the low `n` lanes (AVX-512), through `tmp`.
  void set_tail_mask(int n, const Xbyak::Reg32& tmp);
  // Binds `label` to `value` in the code buffer (after the code: read rip-relative).
  void emit_f32_constant(Xbyak::Label& label, float value);
  // AVX-512: the 16 zmm first..first+15 reduced (sum or max of all lanes)
  // into one zmm, `first`, whose lane L is the reduction of register
  // first + reduce16_slot(L). Four shuffle-and-add levels, 45 instructions for
  // 16 reductions; `temp` is clobbered.
  static int reduce16_slot(int lane) { return 4 * (lane % 4) + lane / 4; }
  void reduce16(int first, int temp, bool max);
  // AVX-512: transposes the 16x16 f32 matrix whose row i is zmm first + i
  // (lane j = column j), so that zmm first + j holds column j. 64 shuffles;
  // zmm temp..temp+15 are clobbered.
  void transpose16(int first, int temp);

 private:
  const char* name_;
  const bool zmm_;
};

// The entry point of a finished kernel.
template <class Fn>
Fn entry(const JitGenerator& g) {
  return reinterpret_cast<Fn>(const_cast<Xbyak::uint8*>(g.getCode()));
}

// Start of row u (0-15) of 16 rows `stride` bytes apart, addressed from four
// bases at rows 0, 4, 8 and 12 and `stride3` = 3 * stride (the in-place
// Q.K^T kernels' keys: x86 addressing scales an index by at most 8).
inline Xbyak::RegExp row_of_16(const Xbyak::Reg64 (&base)[4], const Xbyak::Reg64& stride,
                               const Xbyak::Reg64& stride3, int u) {
  switch (u % 4) {
    case 0: return Xbyak::RegExp(base[u / 4]);
    case 1: return base[u / 4] + stride;
    case 2: return base[u / 4] + stride * 2;
    default: return base[u / 4] + stride3;
  }
}

// Emits `body(mr)` for full microtiles of `mr_max` rows while `rows` >= mr_max
// (calling `advance(mr)` after each), then one tail of rows % mr_max rows.
// `rows` is decremented in place.
void emit_row_loop(Xbyak::CodeGenerator& g, const Xbyak::Reg64& rows, int mr_max,
                   const std::function<void(int)>& body, const std::function<void(int)>& advance);

// Emits `step(u)` `count` times (a register, counted down to 0): `unroll`
// steps u = 0 .. unroll - 1 an iteration while at least `unroll` are left,
// then one (u = 0) at a time; `advance(k)` ends each iteration (k steps done).
void emit_step_loop(Xbyak::CodeGenerator& g, const Xbyak::Reg64& count, int unroll,
                    const std::function<void(int)>& step, const std::function<void(int)>& advance);

}  // namespace attngen::x86
