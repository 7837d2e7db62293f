#include "codegen/x86/lanes_kernels.hpp"

#include <algorithm>

namespace attngen::x86 {
namespace {

using Xbyak::Zmm;
constexpr int kLanes = 16;                 // f32 lanes of a zmm
constexpr int kRowBytes = kBlockKeys * 4;  // one S/P row
constexpr int kVecBytes = kLanes * 4;
constexpr int kUnrollK = 4;                // keys per loop iteration of P.V
constexpr int kStRows = 32;                // 32 rows a pass: S^T of 16 keys, [16][kStRows], before the transposes
constexpr int kStFloats = 16 * kStRows;

int padded(int n) { return (n + kLanes - 1) / kLanes * kLanes; }

}  // namespace

// ---- Q.K^T ---------------------------------------------------------------
// Scratch: 32 rows a pass, S^T [16 keys][32 rows] first; then the converted
// keys of a sweep, [16 / row_vecs keys][D rounded up to 16].

int64_t QkLanesKernel::scratch_floats(int head_dim, int row_vecs) {
  return (row_vecs == 2 ? kStFloats : 0) + int64_t(16 / row_vecs) * padded(head_dim);
}

QkLanesKernel::QkLanesKernel(const TilePlan& plan, int head_dim, ElemType k_type, int row_vecs)
    : JitGenerator(row_vecs == 2 ? "qk_lanes32" : "qk_lanes16", plan.isa), d_(head_dim), d_padded_(padded(head_dim)),
      rv_(row_vecs), type_(k_type) {
  finish_generation();
}

// Start of key u's row in the group of 16 (four bases, as QkDirectKernel).
Xbyak::RegExp QkLanesKernel::key(int u) const { return row_of_16(reg_base, reg_stride, reg_s3, u); }

void QkLanesKernel::generate() {
  preamble();
  mov(reg_qt, ptr[rdi + offsetof(QkLanesArgs, qt)]);
  mov(reg_k0, ptr[rdi + offsetof(QkLanesArgs, k)]);
  mov(reg_stride, ptr[rdi + offsetof(QkLanesArgs, k_stride)]);
  mov(reg_s, ptr[rdi + offsetof(QkLanesArgs, s)]);
  mov(reg_passes, ptr[rdi + offsetof(QkLanesArgs, passes)]);
  push(qword[rdi + offsetof(QkLanesArgs, scratch)]);  // [rsp] from here
  mov(reg_pf, ptr[rdi + offsetof(QkLanesArgs, prefetch)]);  // rdi is free from here
  lea(reg_s3, ptr[reg_stride + reg_stride * 2]);
  if (convert() && d_ % kLanes) set_tail_mask(d_ % kLanes, reg_tmp.cvt32());
  const int rows = pass_rows();
  Xbyak::Label pass, group;
  L(pass);
  mov(reg_kg, reg_k0);
  mov(reg_grp, kBlockKeys / kLanes);
  L(group);
  key_group();
  lea(reg_kg, ptr[reg_kg + reg_stride * 8]);
  lea(reg_kg, ptr[reg_kg + reg_stride * 8]);
  add(reg_s, kVecBytes);  // the next 16 columns of S
  dec(reg_grp);
  jnz(group, T_NEAR);
  add(reg_s, rows * kRowBytes - kRowBytes);  // the next pass's rows
  add(reg_qt, d_ * rows * 4);
  dec(reg_passes);
  jnz(pass, T_NEAR);
  pop(reg_tmp);
  postamble();
}

// 16 keys: S^T in zmm0-15, transposed into 16 rows of S (32 rows: two sweeps
// of 8 keys park S^T in the scratch, then two transposes).
void QkLanesKernel::key_group() {
  mov(reg_base[0], reg_kg);
  for (int b = 1; b < 4; ++b) lea(reg_base[b], ptr[reg_base[b - 1] + reg_stride * 4]);
  if (rv_ == 1) {
    key_sweep(0);
    transpose16(0, 16);
    for (int r = 0; r < kLanes; ++r) vmovups(ptr[reg_s + r * kRowBytes], Zmm(r));
    return;
  }
  key_sweep(0);
  key_sweep(1);
  mov(reg_tmp, ptr[rsp]);
  for (int h = 0; h < 2; ++h) {
    for (int u = 0; u < kLanes; ++u) vmovups(Zmm(u), ptr[reg_tmp + (u * kStRows + h * kLanes) * 4]);
    transpose16(0, 16);
    for (int r = 0; r < kLanes; ++r) vmovups(ptr[reg_s + (h * kLanes + r) * kRowBytes], Zmm(r));
  }
}

// One sweep over D for keys first .. first + keys_per_sweep() of the group:
// 16 rows: zmm u = S^T of key u; 32 rows: zmm 2u + h = rows 16h.. of key
// first + u, stored to the scratch's S^T at the end.
void QkLanesKernel::key_sweep(int sweep) {
  const int first = sweep * keys_per_sweep();
  for (int i = 0; i < kLanes; ++i) vxorps(Zmm(i), Zmm(i), Zmm(i));
  if (convert()) {
    convert_keys(first, keys_per_sweep());
    mov(reg_scr, ptr[rsp]);
    if (rv_ == 2) add(reg_scr, kStFloats * 4);
  }
  // Steps per iteration: 16 rows, one cache line of f32 K rows; 32 rows, half
  // of one (measured 7% faster in isolation than 16 steps, f32 D 128).
  const int chunk = rv_ == 2 ? 8 : 16;
  if (d_ / chunk > 0) {
    Xbyak::Label loop;
    mov(reg_cnt, d_ / chunk);
    L(loop);
    d_steps(first, chunk);
    dec(reg_cnt);
    jnz(loop, T_NEAR);
  }
  if (d_ % chunk) d_steps(first, d_ % chunk);
  sub(reg_qt, d_ * pass_rows() * 4);
  if (rv_ == 2) {
    mov(reg_tmp, ptr[rsp]);
    for (int u = 0; u < keys_per_sweep(); ++u)
      for (int h = 0; h < 2; ++h) vmovups(ptr[reg_tmp + ((first + u) * kStRows + h * kLanes) * 4], Zmm(2 * u + h));
  }
}

// Keys first .. first + n to f32 at the converted-keys scratch, row u at
// u * d_padded floats (lanes past D zero), each row's lines of the next block
// prefetched as it goes.
void QkLanesKernel::convert_keys(int first, int n) {
  const int es = int(elem_size(type_)), chunks = d_padded_ / kLanes, row_bytes = d_ * es;
  mov(reg_tmp, ptr[rsp]);
  const int at = rv_ == 2 ? kStFloats : 0;
  for (int u = 0; u < n; ++u) {
    for (int c = 0; c < chunks; ++c) {
      const Zmm x(20 + (u * chunks + c) % 8);
      load_f32(type_, x, ptr[key(first + u) + c * kLanes * es], d_ % kLanes && c == chunks - 1 ? 1 : 0);
      vmovups(ptr[reg_tmp + (at + u * d_padded_ + c * kLanes) * 4], x);
    }
    lea(reg_cnt, ptr[key(first + u)]);
    for (int line = 0; line < row_bytes; line += 64) prefetcht1(ptr[reg_cnt + reg_pf + line]);
  }
}

// `steps` reduction steps from the current position: the pass's Q^T vectors
// of each step times the broadcast element of every key of the sweep (f32
// keys: read in place, and each row's line of these steps in the next block
// prefetched). 32 rows: the element is broadcast once into a register and
// feeds both vectors.
void QkLanesKernel::d_steps(int first, int steps) {
  const int n = keys_per_sweep(), rows = pass_rows();
  auto at = [&](int u, int i) { return convert() ? reg_scr + (u * d_padded_ + i) * 4 : key(first + u) + i * 4; };
  for (int i = 0; i < steps; ++i) {
    if (rv_ == 1) {
      const Zmm q(16 + (i & 1));
      vmovups(q, ptr[reg_qt + i * rows * 4]);
      for (int u = 0; u < n; ++u) vfmadd231ps(Zmm(u), q, ptr_b[at(u, i)]);
      continue;
    }
    const Zmm q0(16 + 2 * (i & 1)), q1(17 + 2 * (i & 1));
    vmovups(q0, ptr[reg_qt + i * rows * 4]);
    vmovups(q1, ptr[reg_qt + i * rows * 4 + kVecBytes]);
    for (int u = 0; u < n; ++u) {
      const Zmm b(20 + u % 8);
      vbroadcastss(b, ptr[at(u, i)]);
      vfmadd231ps(Zmm(2 * u), q0, b);
      vfmadd231ps(Zmm(2 * u + 1), q1, b);
    }
  }
  if (convert()) {
    add(reg_scr, steps * 4);
  } else {
    for (int u = 0; u < n; ++u) {
      lea(reg_tmp, ptr[key(first + u)]);
      prefetcht1(ptr[reg_tmp + reg_pf]);
    }
    for (int b = first / 4; b < (first + n) / 4; ++b) add(reg_base[b], steps * 4);
  }
  add(reg_qt, steps * rows * 4);
}

// ---- P.V -----------------------------------------------------------------
// Scratch: P^T [64 keys][rows], then 16 V columns converted, [64 keys][16].

int64_t PvLanesKernel::scratch_floats(int row_vecs) { return int64_t(kBlockKeys) * kLanes * (row_vecs + 1); }

PvLanesKernel::PvLanesKernel(const TilePlan& plan, int head_dim_v, ElemType v_type, int row_vecs)
    : JitGenerator(row_vecs == 2 ? "pv_lanes32" : "pv_lanes16", plan.isa), dv_(head_dim_v), rv_(row_vecs),
      type_(v_type) {
  finish_generation();
}

void PvLanesKernel::generate() {
  preamble();
  mov(reg_p, ptr[rdi + offsetof(PvLanesArgs, p)]);
  mov(reg_v, ptr[rdi + offsetof(PvLanesArgs, v)]);
  mov(reg_vstride, ptr[rdi + offsetof(PvLanesArgs, v_stride)]);
  mov(reg_ot, ptr[rdi + offsetof(PvLanesArgs, ot)]);
  mov(reg_alpha, ptr[rdi + offsetof(PvLanesArgs, alpha)]);
  mov(reg_pt, ptr[rdi + offsetof(PvLanesArgs, scratch)]);
  mov(reg_passes, ptr[rdi + offsetof(PvLanesArgs, passes)]);
  mov(reg_pf, ptr[rdi + offsetof(PvLanesArgs, prefetch)]);
  const int rows = pass_rows(), cols = kLanes / rv_;  // columns per group: 16 accumulators
  Xbyak::Label pass;
  L(pass);
  transpose_p();
  for (int h = 0; h < rv_; ++h) vmovups(Zmm(30 + h), ptr[reg_alpha + h * kVecBytes]);
  for (int c16 = 0; c16 < dv_; c16 += kLanes) {
    if (convert()) convert_columns(c16, std::min(kLanes, dv_ - c16));
    for (int c0 = c16; c0 < std::min(dv_, c16 + kLanes); c0 += cols) column_group(c0, std::min(cols, dv_ - c0), c16);
  }
  add(reg_p, rows * kRowBytes);
  add(reg_ot, dv_ * rows * 4);
  add(reg_alpha, rows * 4);
  dec(reg_passes);
  jnz(pass, T_NEAR);
  postamble();
}

// P^T: vector h of key k at scratch + (k * rows + 16h) floats.
void PvLanesKernel::transpose_p() {
  const int rows = pass_rows();
  for (int h = 0; h < rv_; ++h)
    for (int g = 0; g < kBlockKeys / kLanes; ++g) {
      for (int r = 0; r < kLanes; ++r) vmovups(Zmm(r), ptr[reg_p + (h * kLanes + r) * kRowBytes + g * kVecBytes]);
      transpose16(0, 16);
      for (int j = 0; j < kLanes; ++j) vmovups(ptr[reg_pt + ((g * kLanes + j) * rows + h * kLanes) * 4], Zmm(j));
    }
}

// `step(u)` for each of the nsteps keys (emit_step_loop); `advance(k)` moves
// the pointers past k keys.
void PvLanesKernel::key_loop(const std::function<void(int)>& step, const std::function<void(int)>& advance) {
  mov(reg_cnt, ptr[rdi + offsetof(PvLanesArgs, nsteps)]);
  emit_step_loop(*this, reg_cnt, kUnrollK, step, advance);
}

// V columns c0 .. c0 + n of the nsteps keys to f32 in the scratch, [key][16]
// (lanes past n zero), each line of the next block prefetched.
void PvLanesKernel::convert_columns(int c0, int n) {
  const int es = int(elem_size(type_));
  if (n < kLanes) {
    mov(reg_scr.cvt32(), (1u << n) - 1);
    kmovw(k2, reg_scr.cvt32());
  }
  mov(reg_vn, reg_v);
  lea(reg_scr, ptr[reg_pt + v_columns_offset()]);
  key_loop(
      [&](int u) {
        const Zmm x(28 + (u & 1));
        load_f32(type_, x, ptr[reg_vn + c0 * es], n < kLanes ? 2 : 0);
        vmovups(ptr[reg_scr + u * kVecBytes], x);
        prefetcht1(ptr[reg_vn + reg_pf + c0 * es]);
        add(reg_vn, reg_vstride);
      },
      [&](int k) { add(reg_scr, k * kVecBytes); });
}

// Output columns c0 .. c0 + n: accumulator (c, h) = alpha_h * O^T vector h
// of column c0 + c, plus for each of the nsteps keys P^T[key] (vector h)
// times the broadcast V[key][c0 + c] (converted: column c0 - conv0 of the
// scratch's 16).
void PvLanesKernel::column_group(int c0, int n, int conv0) {
  const int rows = pass_rows();
  auto acc = [&](int c, int h) { return Zmm(c * rv_ + h); };
  for (int c = 0; c < n; ++c)
    for (int h = 0; h < rv_; ++h) vmulps(acc(c, h), Zmm(30 + h), ptr[reg_ot + ((c0 + c) * rows + h * kLanes) * 4]);
  mov(reg_ptn, reg_pt);
  if (convert()) lea(reg_scr, ptr[reg_pt + v_columns_offset()]);
  else mov(reg_vn, reg_v);
  key_loop(
      [&](int u) {
        Zmm p[2] = {Zmm(24 + 2 * (u & 1)), Zmm(25 + 2 * (u & 1))};
        for (int h = 0; h < rv_; ++h) vmovups(p[h], ptr[reg_ptn + (u * rows + h * kLanes) * 4]);
        for (int c = 0; c < n; ++c) {
          const Xbyak::RegExp v = convert() ? reg_scr + (u * kLanes + c0 - conv0 + c) * 4 : reg_vn + (c0 + c) * 4;
          if (rv_ == 1) {
            vfmadd231ps(acc(c, 0), p[0], ptr_b[v]);
            continue;
          }
          const Zmm b(16 + c % 8);
          vbroadcastss(b, ptr[v]);
          vfmadd231ps(acc(c, 0), p[0], b);
          vfmadd231ps(acc(c, 1), p[1], b);
        }
        if (!convert()) {
          if (c0 % kLanes == 0) prefetcht1(ptr[reg_vn + reg_pf + c0 * 4]);  // this row's line, next block
          add(reg_vn, reg_vstride);
        }
      },
      [&](int k) {
        add(reg_ptn, k * rows * 4);
        if (convert()) add(reg_scr, k * kVecBytes);
      });
  for (int c = 0; c < n; ++c)
    for (int h = 0; h < rv_; ++h) vmovups(ptr[reg_ot + ((c0 + c) * rows + h * kLanes) * 4], acc(c, h));
}

}  // namespace attngen::x86
