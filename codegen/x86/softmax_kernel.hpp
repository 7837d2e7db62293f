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
  bool p_bf16 = false;        // write P as bf16 (the first half of each S row) for vdpbf16ps

  static SoftmaxOptions from_spec(const Spec& spec, bool partial, ElemType additive_type);
};

// One S row is 64 / lanes() vectors: ymm0-7 (AVX2) or zmm0-3 (AVX-512). The
// AVX-512 masks are opmask compares ANDed into k2 and one blend per vector.
// AVX2 handles one row at a time. AVX-512 handles rows in groups of 16: every
// row's max (and later sum) vector goes to one of zmm16-31, one shuffle tree
// (reduce16) reduces the 16 at once, and the running max, rescale factor and
// sum of the 16 rows are vector operations: fewer instructions per row and no
// long per-row dependency chain.
class SoftmaxKernel final : public JitGenerator {
 public:
  SoftmaxKernel(const SoftmaxOptions& opt, Isa isa);

 private:
  void generate() override;
  void generate_rows16();
  void load_args(const Xbyak::Reg64& s, const Xbyak::Reg64& rows);
  void row();
  void score_mods();
  void masks();
  void masks_avx512();
  void online_update();
  // Vector math on ymm `x` in place, with scratch registers.
  void exp_inplace(const Xbyak::Xmm& x, const Xbyak::Xmm& t1, const Xbyak::Xmm& t2);
  void load_exp_constants();  // into exp_lo_ and exp_log2e_
  // Every lane of vector register v becomes the max (or sum) of its lanes.
  void hreduce(int v, int t, bool max);
  // Vector registers 0..nvec_-1 folded into register `dst` with max or add.
  void fold(int dst, int t1, int t2, bool max);
  Xbyak::Address cst(int index);  // a vector constant of the table
  bool reads_block_data() const;
  int key_mask(int vec) const;    // the opmask of vector vec's keys inside the tensors, or 0
  void emit_constants();

  const SoftmaxOptions opt_;
  const int nvec_;  // vectors per S row
  Xbyak::Label consts_;
  // vmm 0..nvec_-1 hold one S row (64 scores); vmm 8-13 are scratch; vmm 14-15
  // hold exp's constants during exp (and scratch of the mask code before it).
  const Xbyak::Xmm exp_lo_, exp_log2e_;
  const Xbyak::Reg64 reg_s = rsi, reg_row = rdx, reg_m = rcx, reg_l = r8, reg_alpha = r9, reg_n = r10;
  const Xbyak::Reg64 reg_mask = r11, reg_doc = rbx, reg_col = rbp;
  // AVX-512 (rows in groups of 16): rows in this group, the group's S rows and row descriptions.
  const Xbyak::Reg64 reg_cnt = r12, reg_s_group = r14, reg_row_group = r15;
};

}  // namespace attngen::x86
