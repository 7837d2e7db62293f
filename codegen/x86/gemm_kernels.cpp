#include "codegen/x86/gemm_kernels.hpp"

namespace attngen::x86 {
namespace {

using Xbyak::Ymm;
constexpr int kUnrollD = 4;   // head-dim steps per loop iteration of Q.K^T
constexpr int kUnrollN = 8;   // keys per loop iteration of P.V
constexpr int kRowBytes = kBlockKeys * 4;  // one S/P row

Ymm acc(int r, int h) { return Ymm(r * 2 + h); }

}  // namespace

QkKernel::QkKernel(int head_dim) : JitGenerator("qk_gemm"), d_(head_dim) { finish_generation(); }

void QkKernel::generate() {
  preamble();
  mov(reg_q, ptr[rdi + offsetof(QkArgs, q)]);
  mov(reg_kt, ptr[rdi + offsetof(QkArgs, kt)]);
  mov(reg_s, ptr[rdi + offsetof(QkArgs, s)]);
  mov(reg_rows, ptr[rdi + offsetof(QkArgs, rows)]);
  emit_row_loop(*this, reg_rows, kRowsMicro, [&](int mr) { microtile(mr); },
                [&](int mr) {
                  add(reg_q, mr * d_ * 4);
                  add(reg_s, mr * kRowBytes);
                });
  postamble();
}

void QkKernel::microtile(int mr) {
  const Ymm k0(12), k1(13);
  // One step of the head dimension at byte offset `qoff` in Q rows and `koff` in Kt.
  auto step = [&](int qoff, int koff) {
    vmovups(k0, ptr[reg_kd + koff]);
    vmovups(k1, ptr[reg_kd + koff + 32]);
    for (int r = 0; r < mr; ++r) {
      const Ymm b(14 + (r & 1));
      vbroadcastss(b, ptr[reg_qd + r * d_ * 4 + qoff]);
      vfmadd231ps(acc(r, 0), k0, b);
      vfmadd231ps(acc(r, 1), k1, b);
    }
  };
  for (int c = 0; c < kBlockKeys / kColsMicro; ++c) {
    for (int r = 0; r < mr; ++r)
      for (int h = 0; h < 2; ++h) vxorps(acc(r, h), acc(r, h), acc(r, h));
    mov(reg_qd, reg_q);
    lea(reg_kd, ptr[reg_kt + c * kColsMicro * 4]);
    if (d_ / kUnrollD > 0) {
      Xbyak::Label loop;
      mov(reg_cnt, d_ / kUnrollD);
      L(loop);
      for (int u = 0; u < kUnrollD; ++u) step(u * 4, u * kRowBytes);
      add(reg_qd, kUnrollD * 4);
      add(reg_kd, kUnrollD * kRowBytes);
      dec(reg_cnt);
      jnz(loop, T_NEAR);
    }
    for (int u = 0; u < d_ % kUnrollD; ++u) step(u * 4, u * kRowBytes);
    for (int r = 0; r < mr; ++r)
      for (int h = 0; h < 2; ++h) vmovups(ptr[reg_s + r * kRowBytes + c * kColsMicro * 4 + h * 32], acc(r, h));
  }
}

PvKernel::PvKernel(int head_dim_v_padded) : JitGenerator("pv_gemm"), dv_(head_dim_v_padded) { finish_generation(); }

void PvKernel::generate() {
  preamble();
  mov(reg_p, ptr[rdi + offsetof(PvArgs, p)]);
  mov(reg_v, ptr[rdi + offsetof(PvArgs, v)]);
  mov(reg_o, ptr[rdi + offsetof(PvArgs, o)]);
  mov(reg_alpha, ptr[rdi + offsetof(PvArgs, alpha)]);
  mov(reg_rows, ptr[rdi + offsetof(PvArgs, rows)]);
  emit_row_loop(*this, reg_rows, kRowsMicro, [&](int mr) { microtile(mr); },
                [&](int mr) {
                  add(reg_p, mr * kRowBytes);
                  add(reg_o, mr * dv_ * 4);
                  add(reg_alpha, mr * 4);
                });
  postamble();
}

void PvKernel::microtile(int mr) {
  const Ymm v0(12), v1(13);
  const int v_row = dv_ * 4;
  // Column chunks of 16 floats; O and V pointers advance per chunk.
  mov(reg_oc, reg_o);
  mov(reg_vc, reg_v);
  mov(reg_col, dv_ / kColsMicro);
  Xbyak::Label col_loop;
  L(col_loop);
  for (int r = 0; r < mr; ++r) {
    vbroadcastss(Ymm(14), ptr[reg_alpha + r * 4]);
    for (int h = 0; h < 2; ++h) vmulps(acc(r, h), Ymm(14), ptr[reg_oc + r * v_row + h * 32]);
  }
  mov(reg_pn, reg_p);
  mov(reg_vn, reg_vc);
  mov(reg_cnt, kBlockKeys / kUnrollN);
  Xbyak::Label key_loop;
  L(key_loop);
  for (int u = 0; u < kUnrollN; ++u) {
    vmovups(v0, ptr[reg_vn + u * v_row]);
    vmovups(v1, ptr[reg_vn + u * v_row + 32]);
    for (int r = 0; r < mr; ++r) {
      const Ymm b(14 + (r & 1));
      vbroadcastss(b, ptr[reg_pn + r * kRowBytes + u * 4]);
      vfmadd231ps(acc(r, 0), v0, b);
      vfmadd231ps(acc(r, 1), v1, b);
    }
  }
  add(reg_pn, kUnrollN * 4);
  add(reg_vn, kUnrollN * v_row);
  dec(reg_cnt);
  jnz(key_loop, T_NEAR);
  for (int r = 0; r < mr; ++r)
    for (int h = 0; h < 2; ++h) vmovups(ptr[reg_oc + r * v_row + h * 32], acc(r, h));
  add(reg_oc, kColsMicro * 4);
  add(reg_vc, kColsMicro * 4);
  dec(reg_col);
  jnz(col_loop, T_NEAR);
}

}  // namespace attngen::x86
