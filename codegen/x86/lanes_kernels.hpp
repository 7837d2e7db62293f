// The lanes path of the x86 backend (AVX-512): the two products of a tile of
// up to a few dozen rows with the rows in the lanes of zmm registers, 16 or
// 32 rows a pass (one or two vectors; abi.hpp, QkLanesArgs). The in-place
// kernels (QkDirectKernel) hold one row per accumulator and so load and
// convert every K and V element once per 4 rows, and reduce each dot product
// horizontally; here each element is loaded (and converted) once per pass, as
// a broadcast operand, and no horizontal sum is needed. With 16 rows a pass
// the broadcasts bound the rate (one load per FMA); with 32, one broadcast
// feeds two FMAs. Tiles of a few rows keep the in-place kernels.
#pragma once

#include <functional>

#include "codegen/plan/plan.hpp"
#include "codegen/x86/abi.hpp"
#include "codegen/x86/jit_generator.hpp"
#include "runtime/core/dtype.hpp"

namespace attngen::x86 {

// S for one pass at a time, 16 keys at a time: S^T in zmm0-15 (16 rows: one
// accumulator per key; 32 rows: 8 keys x 2 vectors, twice), turned into rows
// of S by 16x16 transposes. f16/bf16 keys are converted into the scratch
// first, 16 or 8 rows at a time, so the conversion's stores stay in L1.
class QkLanesKernel final : public JitGenerator {
 public:
  QkLanesKernel(const TilePlan& plan, int head_dim, ElemType k_type, int row_vecs);
  // Floats of QkLanesArgs::scratch (the converted keys; 32 rows: also S^T of 16 keys).
  static int64_t scratch_floats(int head_dim, int row_vecs);

 private:
  void generate() override;
  void key_group();
  void key_sweep(int sweep);
  void convert_keys(int first, int n);
  void d_steps(int first_key, int steps);
  Xbyak::RegExp key(int u) const;
  bool convert() const { return type_ != ElemType::f32; }
  int keys_per_sweep() const { return 16 / rv_; }
  int pass_rows() const { return 16 * rv_; }
  const int d_, d_padded_, rv_;
  const ElemType type_;
  const Xbyak::Reg64 reg_qt = rsi, reg_kg = rdx, reg_stride = rcx, reg_s = r8, reg_passes = r9;
  const Xbyak::Reg64 reg_s3 = rax, reg_grp = rbx, reg_k0 = rbp, reg_cnt = r10, reg_tmp = r11;
  const Xbyak::Reg64 reg_pf = rdi;  // after the arguments are read (the scratch pointer goes on the stack)
  const Xbyak::Reg64 reg_base[4] = {r12, r13, r14, r15};  // keys 0, 4, 8, 12 of the group
  const Xbyak::Reg64& reg_scr = reg_base[0];  // converting: the converted keys, once they are converted
};

// O^T += P^T-weighted V rows: per pass, P is transposed into the scratch
// (16x16 transposes), then per group of 16 (16 rows) or 8 (32 rows) output
// columns, one accumulator per column and row vector takes one FMA per key
// with the V element broadcast (f16/bf16: every 16 columns converted into
// the scratch first).
class PvLanesKernel final : public JitGenerator {
 public:
  PvLanesKernel(const TilePlan& plan, int head_dim_v, ElemType v_type, int row_vecs);
  // Floats of PvLanesArgs::scratch: P^T, then 16 converted V columns.
  static int64_t scratch_floats(int row_vecs);

 private:
  void generate() override;
  void transpose_p();
  void column_group(int c0, int n, int conv0);
  void convert_columns(int c0, int n);
  void key_loop(const std::function<void(int)>& step, const std::function<void(int)>& advance);
  bool convert() const { return type_ != ElemType::f32; }
  int pass_rows() const { return 16 * rv_; }
  // Bytes from the scratch's start (P^T, 64 keys x pass_rows()) to the converted V columns.
  int v_columns_offset() const { return kBlockKeys * pass_rows() * 4; }
  const int dv_, rv_;
  const ElemType type_;
  const Xbyak::Reg64 reg_p = rsi, reg_v = rdx, reg_vstride = rcx, reg_ot = r8, reg_alpha = r9;
  const Xbyak::Reg64 reg_pt = r10, reg_passes = r11, reg_vn = rax, reg_ptn = rbx, reg_cnt = rbp;
  const Xbyak::Reg64 reg_pf = r12, reg_scr = r13;
};

}  // namespace attngen::x86
