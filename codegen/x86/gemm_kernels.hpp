// The two matrix products of a flash-attention tile, generated for one spec
// and one vector ISA (TilePlan). Register plan of a microtile (rows_micro rows
// x cols_micro columns; docs/design-x86.md):
//   AVX2    (16 ymm): 6 rows x 2 vectors, ymm0-11 accumulators, ymm12-13 B operand, ymm14-15 broadcasts;
//   AVX-512 (32 zmm): 6 rows x 4 vectors, zmm0-23 accumulators, zmm24-27 B operand, zmm28-29 broadcasts.
// Per step: the B vectors + rows broadcasts feed rows x vectors FMAs (or
// vdpbf16ps on bf16 pairs, where each step covers two elements of the reduction).
#pragma once

#include "codegen/plan/plan.hpp"
#include "codegen/x86/abi.hpp"
#include "codegen/x86/jit_generator.hpp"
#include "runtime/core/dtype.hpp"

namespace attngen::x86 {

// S[rows][64] = Q[rows][steps] . Kt[steps][64] (f32, or bf16 pairs then scaled by `scale`)
class QkKernel final : public JitGenerator {
 public:
  QkKernel(const TilePlan& plan, double scale);

 private:
  void generate() override;
  void microtile(int mr, int col_group);
  void mac(const Xbyak::Xmm& acc, const Xbyak::Xmm& a, const Xbyak::Xmm& b);
  const TilePlan plan_;
  const float scale_;
  Xbyak::Label scale_label_;
  const Xbyak::Reg64 reg_q = rsi, reg_kt = rdx, reg_s = rcx, reg_rows = r8;
  const Xbyak::Reg64 reg_qd = r9, reg_kd = r10, reg_cnt = r11, reg_qr = rax, reg_sr = rbx, reg_left = rbp;
};

// S[rows][64] = Q[rows][D] . K[keys][D]^T with K in its storage layout and
// dtype (the decode path). AVX2: one row at a time, 8 keys per group, one
// accumulator per key. AVX-512: rows in passes of 4, 2 or 1 with 4, 8 or 16
// keys per group, one accumulator per (row, key), so each K chunk is loaded
// and converted once for all rows of the pass. The accumulators are reduced
// horizontally into one vector of scores. Keys past nkeys are never read.
// AVX2: D must be a multiple of 8; AVX-512: any D (masked tail loads).
// On the vdpbf16ps plan Q rows are bf16 pairs (unscaled) and each K chunk of
// 32 bf16 feeds vdpbf16ps as stored: adjacent elements along D are the
// pairs, so nothing is converted; the scores are then multiplied by `scale`.
class QkDirectKernel final : public JitGenerator {
 public:
  QkDirectKernel(const TilePlan& plan, int head_dim, ElemType k_type, double scale);

 private:
  void generate() override;
  void pass(int rows);
  void group(int rows, bool tail);
  void reduce_and_store(int rows);
  void prefetch_next_rows(int keys);
  Xbyak::Address key(int u, int byte_offset);
  const TilePlan plan_;
  const int d_;
  const ElemType type_;
  const bool dot_;     // vdpbf16ps on bf16 pairs
  const float scale_;  // applied to the scores when dot_
  const int chunk_;    // elements of D per vector: 16 f32, or 32 bf16 (dot_)
  Xbyak::Label scale_label_;
  const Xbyak::Reg64 reg_q = rsi, reg_k = rdx, reg_stride = rcx, reg_s = r8, reg_rows = r9;
  const Xbyak::Reg64 reg_k0 = r10, reg_s3 = rax, reg_grp = rbx, reg_nkeys = rbp, reg_tmp = r11;
  const Xbyak::Reg64 reg_pf = rdi;  // after the arguments are read
  const Xbyak::Reg64 reg_base[4] = {r12, r13, r14, r15};  // keys 0, 4, 8, 12 of a group
};

// O[rows][cols] = alpha[row] * O + P[rows][steps] . V[steps][cols], V rows
// v_stride bytes apart: a packed f32 or bf16-pair block, or (`direct`) the
// tensor itself in `v_type`, converted to f32 on load, with the direct
// microtile shape and PvArgs::prefetch. O rows are `o_row` floats apart
// (>= cols rounded up to the microtile). AVX-512 masks the last columns when
// cols is not a multiple of the microtile; AVX2 needs cols % 16 == 0.
// On the vdpbf16ps plan the direct kernel takes P as bf16 pairs and pairs
// two V rows in registers (vpermt2w interleaves their bf16 columns); an odd
// last key is paired with zeros, and no row past nsteps is read.
class PvKernel final : public JitGenerator {
 public:
  PvKernel(const TilePlan& plan, int cols, int o_row, ElemType v_type, bool direct = false);

 private:
  void generate() override;
  void column_chunk(int nvec, int tail_lanes);
  void microtile(int mr, int nvec, int tail_lanes);
  void load_v(int nvec, int tail_lanes, bool second_row);
  // Bytes of V per output column in a V row: a packed bf16 pair, or one element as stored.
  int v_lane_bytes() const { return dot_ && !direct_ ? 4 : int(elem_size(type_)); }
  const TilePlan plan_;
  const int cols_, o_row_;
  const ElemType type_;
  const bool dot_, direct_;  // vdpbf16ps; V read in place (with prefetches)
  Xbyak::Label interleave_label_;
  const int rows_micro_, vecs_;  // microtile: rows x vectors (one column chunk)
  // rdi keeps the argument struct; these walk chunks, rows and keys.
  const Xbyak::Reg64 reg_vstride = rsi, reg_col = rdx, reg_vc = rcx, reg_oc = r8, reg_pr = r9, reg_or = r10;
  const Xbyak::Reg64 reg_ar = r11, reg_left = rax, reg_pn = rbx, reg_vn = rbp, reg_cnt = r12, reg_tmp = r13;
  const Xbyak::Reg64 reg_pf = r14;
};

}  // namespace attngen::x86
