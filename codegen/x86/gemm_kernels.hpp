// The two matrix products of a flash-attention tile, generated for one head
// dimension. Register plan (AVX2, 16 ymm): a microtile of 6 rows x 16 floats
// keeps 12 accumulators (ymm0-11), two B-operand vectors (ymm12-13) and two
// broadcasts (ymm14-15): per step 2 loads + 6 broadcasts feed 12 FMAs.
#pragma once

#include "codegen/x86/abi.hpp"
#include "codegen/x86/jit_generator.hpp"

namespace attngen::x86 {

// S[rows][64] = Q[rows][D] . Kt[D][64]
class QkKernel final : public JitGenerator {
 public:
  explicit QkKernel(int head_dim);
  QkFn fn() const { return entry<QkFn>(*this); }

 private:
  void generate() override;
  void microtile(int mr);
  const int d_;
  const Xbyak::Reg64 reg_q = rsi, reg_kt = rdx, reg_s = rcx, reg_rows = r8;
  const Xbyak::Reg64 reg_qd = r9, reg_kd = r10, reg_cnt = r11;
};

// O[rows][Dv_pad] = alpha[row] * O + P[rows][64] . V[64][Dv_pad]
class PvKernel final : public JitGenerator {
 public:
  explicit PvKernel(int head_dim_v_padded);
  PvFn fn() const { return entry<PvFn>(*this); }

 private:
  void generate() override;
  void microtile(int mr);
  const int dv_;  // a multiple of 16
  const Xbyak::Reg64 reg_p = rsi, reg_v = rdx, reg_o = rcx, reg_alpha = r8, reg_rows = r9;
  const Xbyak::Reg64 reg_pn = r10, reg_vn = r11, reg_oc = rax, reg_vc = rbx, reg_cnt = r12, reg_col = r13;
};

}  // namespace attngen::x86
