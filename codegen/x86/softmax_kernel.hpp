// The masked online softmax of one (Q tile, K block), generated for one spec:
// score mods (softcap, ALiBi, additive mask) and, in the partial variant, the
// per-element masks (index intervals, document ids, boolean custom mask) are
// emitted only when the spec has them. A full tile gets none of the mask work.
#pragma once

#include "codegen/spec/spec.hpp"
#include "codegen/x86/abi.hpp"
#include "codegen/x86/jit_generator.hpp"

namespace attngen::x86 {

struct SoftmaxOptions {
  bool partial = false;       // emit per-element masks
  double softcap = 0;         // 0: none
  bool alibi = false;
  bool document = false;
  bool custom_bool = false;
  bool custom_additive = false;
  ElemType additive_type = ElemType::f32;  // element type of the additive mask

  static SoftmaxOptions from_spec(const Spec& spec, bool partial, ElemType additive_type);
};

class SoftmaxKernel final : public JitGenerator {
 public:
  explicit SoftmaxKernel(const SoftmaxOptions& opt);

 private:
  void generate() override;
  void row();
  void score_mods();
  void masks();
  void online_update();
  // Vector math on ymm `x` in place, with scratch registers.
  void exp_inplace(const Xbyak::Ymm& x, const Xbyak::Ymm& t1, const Xbyak::Ymm& t2);
  void load_exp_constants();  // into exp_lo_ and exp_log2e_
  void hreduce(const Xbyak::Ymm& v, const Xbyak::Ymm& t, bool max);
  Xbyak::Address cst(int index);  // a 32-byte constant of the table
  void emit_constants();

  const SoftmaxOptions opt_;
  Xbyak::Label consts_;
  // ymm0-7 hold one S row (64 scores); ymm8-13 are scratch; ymm14-15 hold
  // exp's constants during exp (and scratch of the mask code before it).
  const Xbyak::Ymm exp_lo_ = Xbyak::Ymm(14), exp_log2e_ = Xbyak::Ymm(15);
  const Xbyak::Reg64 reg_s = rsi, reg_row = rdx, reg_m = rcx, reg_l = r8, reg_alpha = r9, reg_n = r10;
  const Xbyak::Reg64 reg_mask = r11, reg_doc = rbx, reg_col = rbp;
};

}  // namespace attngen::x86
