// The two matrix products of a flash-attention tile, generated for one head
// dimension. Register plan (AVX2, 16 ymm): a microtile of 6 rows x 16 floats
// keeps 12 accumulators (ymm0-11), two B-operand vectors (ymm12-13) and two
// broadcasts (ymm14-15): per step 2 loads + 6 broadcasts feed 12 FMAs.
#pragma once

#include "codegen/x86/abi.hpp"
#include "codegen/x86/jit_generator.hpp"
#include "runtime/core/dtype.hpp"

namespace attngen::x86 {

// S[rows][64] = Q[rows][D] . Kt[D][64]
class QkKernel final : public JitGenerator {
 public:
  explicit QkKernel(int head_dim);

 private:
  void generate() override;
  void microtile(int mr, int col_group);
  const int d_;
  const Xbyak::Reg64 reg_q = rsi, reg_kt = rdx, reg_s = rcx, reg_rows = r8;
  const Xbyak::Reg64 reg_qd = r9, reg_kd = r10, reg_cnt = r11, reg_qr = rax, reg_sr = rbx, reg_left = rbp;
};

// S[rows][64] = Q[rows][D] . K[64 keys][D]^T with K in its storage layout and
// dtype: eight keys per step, one accumulator each, reduced horizontally into
// one vector of eight scores. D must be a multiple of 8.
class QkDirectKernel final : public JitGenerator {
 public:
  QkDirectKernel(int head_dim, ElemType k_type);

 private:
  void generate() override;
  const int d_;
  const ElemType type_;
  const Xbyak::Reg64 reg_q = rsi, reg_k = rdx, reg_stride = rcx, reg_s = r8, reg_rows = r9;
  const Xbyak::Reg64 reg_k0 = r10, reg_k4 = r11, reg_s3 = rax, reg_grp = rbx;
};

// O[rows][Dv_pad] = alpha[row] * O + P[rows][64] . V[64][Dv_pad], V rows
// v_stride bytes apart in `v_type` (converted to f32 on load).
class PvKernel final : public JitGenerator {
 public:
  PvKernel(int head_dim_v_padded, ElemType v_type);

 private:
  void generate() override;
  void microtile(int mr);
  const int dv_;  // a multiple of 16
  const ElemType type_;
  // rdi keeps the argument struct; these walk chunks, rows and keys.
  const Xbyak::Reg64 reg_vstride = rsi, reg_col = rdx, reg_vc = rcx, reg_oc = r8, reg_pr = r9, reg_or = r10;
  const Xbyak::Reg64 reg_ar = r11, reg_left = rax, reg_pn = rbx, reg_vn = rbp, reg_cnt = r12;
};

}  // namespace attngen::x86
