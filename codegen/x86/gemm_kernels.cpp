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

// Column groups outermost: one group's 8 KB slice of the K block stays in L1
// while every row microtile of the tile streams past it.
void QkKernel::generate() {
  preamble();
  mov(reg_q, ptr[rdi + offsetof(QkArgs, q)]);
  mov(reg_kt, ptr[rdi + offsetof(QkArgs, kt)]);
  mov(reg_s, ptr[rdi + offsetof(QkArgs, s)]);
  mov(reg_rows, ptr[rdi + offsetof(QkArgs, rows)]);
  for (int c = 0; c < kBlockKeys / kColsMicro; ++c) {
    mov(reg_qr, reg_q);
    lea(reg_sr, ptr[reg_s + c * kColsMicro * 4]);
    mov(reg_left, reg_rows);
    emit_row_loop(*this, reg_left, kRowsMicro, [&](int mr) { microtile(mr, c); },
                  [&](int mr) {
                    add(reg_qr, mr * d_ * 4);
                    add(reg_sr, mr * kRowBytes);
                  });
  }
  postamble();
}

void QkKernel::microtile(int mr, int c) {
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
  for (int r = 0; r < mr; ++r)
    for (int h = 0; h < 2; ++h) vxorps(acc(r, h), acc(r, h), acc(r, h));
  mov(reg_qd, reg_qr);
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
    for (int h = 0; h < 2; ++h) vmovups(ptr[reg_sr + r * kRowBytes + h * 32], acc(r, h));
}

// Eight f32 lanes from `type` elements at `addr` (converted on load).
static void load_f32(Xbyak::CodeGenerator& g, ElemType type, const Ymm& dst, const Xbyak::Address& addr) {
  switch (type) {
    case ElemType::f16: g.vcvtph2ps(dst, addr); break;
    case ElemType::bf16:
      g.vpmovzxwd(dst, addr);
      g.vpslld(dst, dst, 16);
      break;
    default: g.vmovups(dst, addr); break;
  }
}

QkDirectKernel::QkDirectKernel(int head_dim, ElemType k_type)
    : JitGenerator("qk_direct"), d_(head_dim), type_(k_type) {
  finish_generation();
}

void QkDirectKernel::generate() {
  preamble();
  mov(reg_q, ptr[rdi + offsetof(QkDirectArgs, q)]);
  mov(reg_k, ptr[rdi + offsetof(QkDirectArgs, k)]);
  mov(reg_stride, ptr[rdi + offsetof(QkDirectArgs, k_stride)]);
  mov(reg_s, ptr[rdi + offsetof(QkDirectArgs, s)]);
  mov(reg_rows, ptr[rdi + offsetof(QkDirectArgs, rows)]);
  lea(reg_s3, ptr[reg_stride + reg_stride * 2]);
  const int es = int(elem_size(type_));
  Xbyak::Label row_loop, group_loop, done;
  test(reg_rows, reg_rows);
  jz(done, T_NEAR);
  L(row_loop);
  mov(reg_k0, reg_k);
  xor_(reg_grp, reg_grp);
  L(group_loop);
  lea(reg_k4, ptr[reg_k0 + reg_stride * 4]);
  for (int u = 0; u < 8; ++u) vxorps(Ymm(u), Ymm(u), Ymm(u));
  // Keys 0..7 of the group: [k0], [k0+s], [k0+2s], [k0+3s], then the same from k4.
  auto key = [&](int u, int off) {
    const Xbyak::Reg64& base = u < 4 ? reg_k0 : reg_k4;
    switch (u % 4) {
      case 0: return ptr[base + off];
      case 1: return ptr[base + reg_stride + off];
      case 2: return ptr[base + reg_stride * 2 + off];
      default: return ptr[base + reg_s3 + off];
    }
  };
  for (int c = 0; c < d_ / 8; ++c) {
    vmovups(Ymm(8), ptr[reg_q + c * 32]);
    for (int u = 0; u < 8; ++u) {
      const Ymm k(9 + u % 4);
      load_f32(*this, type_, k, key(u, c * 8 * es));
      vfmadd231ps(Ymm(u), k, Ymm(8));
    }
  }
  // Horizontal sums of the eight accumulators into one vector of scores.
  vhaddps(Ymm(0), Ymm(0), Ymm(1));
  vhaddps(Ymm(2), Ymm(2), Ymm(3));
  vhaddps(Ymm(4), Ymm(4), Ymm(5));
  vhaddps(Ymm(6), Ymm(6), Ymm(7));
  vhaddps(Ymm(0), Ymm(0), Ymm(2));
  vhaddps(Ymm(4), Ymm(4), Ymm(6));
  vperm2f128(Ymm(1), Ymm(0), Ymm(4), 0x20);
  vperm2f128(Ymm(2), Ymm(0), Ymm(4), 0x31);
  vaddps(Ymm(1), Ymm(1), Ymm(2));
  vmovups(ptr[reg_s + reg_grp * 4], Ymm(1));
  lea(reg_k0, ptr[reg_k4 + reg_stride * 4]);
  add(reg_grp, 8);
  cmp(reg_grp, kBlockKeys);
  jl(group_loop, T_NEAR);
  add(reg_q, d_ * 4);
  add(reg_s, kRowBytes);
  dec(reg_rows);
  jnz(row_loop, T_NEAR);
  L(done);
  postamble();
}

PvKernel::PvKernel(int head_dim_v_padded, ElemType v_type)
    : JitGenerator("pv_gemm"), dv_(head_dim_v_padded), type_(v_type) {
  finish_generation();
}

// Column chunks outermost: one chunk's slice of the V block (64 keys x 16
// floats) stays in L1 while every row microtile streams past it. The
// arguments are re-read from memory per chunk to free registers.
void PvKernel::generate() {
  preamble();
  mov(reg_vstride, ptr[rdi + offsetof(PvArgs, v_stride)]);
  mov(reg_vc, ptr[rdi + offsetof(PvArgs, v)]);
  mov(reg_oc, ptr[rdi + offsetof(PvArgs, o)]);
  mov(reg_col, dv_ / kColsMicro);
  Xbyak::Label col_loop;
  L(col_loop);
  mov(reg_pr, ptr[rdi + offsetof(PvArgs, p)]);
  mov(reg_ar, ptr[rdi + offsetof(PvArgs, alpha)]);
  mov(reg_left, ptr[rdi + offsetof(PvArgs, rows)]);
  mov(reg_or, reg_oc);
  emit_row_loop(*this, reg_left, kRowsMicro, [&](int mr) { microtile(mr); },
                [&](int mr) {
                  add(reg_pr, mr * kRowBytes);
                  add(reg_or, mr * dv_ * 4);
                  add(reg_ar, mr * 4);
                });
  add(reg_oc, kColsMicro * 4);
  add(reg_vc, 2 * 8 * int(elem_size(type_)));
  dec(reg_col);
  jnz(col_loop, T_NEAR);
  postamble();
}

void PvKernel::microtile(int mr) {
  const Ymm v0(12), v1(13);
  const int o_row = dv_ * 4;
  const int half = 8 * int(elem_size(type_));  // bytes of eight V elements
  for (int r = 0; r < mr; ++r) {
    vbroadcastss(Ymm(14), ptr[reg_ar + r * 4]);
    for (int h = 0; h < 2; ++h) vmulps(acc(r, h), Ymm(14), ptr[reg_or + r * o_row + h * 32]);
  }
  mov(reg_pn, reg_pr);
  mov(reg_vn, reg_vc);
  mov(reg_cnt, kBlockKeys / kUnrollN);
  Xbyak::Label key_loop;
  L(key_loop);
  for (int u = 0; u < kUnrollN; ++u) {
    load_f32(*this, type_, v0, ptr[reg_vn]);
    load_f32(*this, type_, v1, ptr[reg_vn + half]);
    add(reg_vn, reg_vstride);
    for (int r = 0; r < mr; ++r) {
      const Ymm b(14 + (r & 1));
      vbroadcastss(b, ptr[reg_pn + r * kRowBytes + u * 4]);
      vfmadd231ps(acc(r, 0), v0, b);
      vfmadd231ps(acc(r, 1), v1, b);
    }
  }
  add(reg_pn, kUnrollN * 4);
  dec(reg_cnt);
  jnz(key_loop, T_NEAR);
  for (int r = 0; r < mr; ++r)
    for (int h = 0; h < 2; ++h) vmovups(ptr[reg_or + r * o_row + h * 32], acc(r, h));
}

}  // namespace attngen::x86
