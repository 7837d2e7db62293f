#include "codegen/x86/softmax_kernel.hpp"

#include <cmath>
#include <cstring>
#include <limits>

namespace attngen::x86 {
namespace {

using Xbyak::Ymm;

// Indices of the 32-byte constants (8 lanes each) in the kernel's table.
enum Const : int {
  kExpLo, kLog2e, kLn2Hi, kLn2Lo, kP0, kP1, kP2, kP3, kP4, kP5, kOne, kI127, kNegInf, kAbs, kSign,
  kInvCap, kCap, kMinusTwo, kIotaF, kIotaI = kIotaF + 8, kNumConst = kIotaI + 8
};

constexpr int kRowBytes = kBlockKeys * 4;

}  // namespace

SoftmaxOptions SoftmaxOptions::from_spec(const Spec& spec, bool partial, ElemType additive_type) {
  SoftmaxOptions o;
  o.partial = partial;
  if (const SoftcapMod* c = spec.find_mod<SoftcapMod>()) o.softcap = c->cap;
  o.alibi = spec.find_mod<AlibiMod>() != nullptr;
  o.document = spec.find_mask<DocumentMask>() != nullptr;
  if (const CustomMask* c = spec.find_mask<CustomMask>()) {
    o.custom_bool = c->format == CustomFormat::boolean;
    o.custom_additive = c->format == CustomFormat::additive;
  }
  o.additive_type = additive_type;
  return o;
}

SoftmaxKernel::SoftmaxKernel(const SoftmaxOptions& opt)
    : JitGenerator(opt.partial ? "softmax_partial" : "softmax_full"), opt_(opt) {
  finish_generation();
}

Xbyak::Address SoftmaxKernel::cst(int index) { return ptr[rip + consts_ + index * 32]; }

void SoftmaxKernel::generate() {
  preamble();
  mov(reg_s, ptr[rdi + offsetof(SoftmaxArgs, s)]);
  mov(reg_row, ptr[rdi + offsetof(SoftmaxArgs, rows)]);
  mov(reg_m, ptr[rdi + offsetof(SoftmaxArgs, m)]);
  mov(reg_l, ptr[rdi + offsetof(SoftmaxArgs, l)]);
  mov(reg_alpha, ptr[rdi + offsetof(SoftmaxArgs, alpha)]);
  mov(reg_n, ptr[rdi + offsetof(SoftmaxArgs, nrows)]);
  mov(reg_doc, ptr[rdi + offsetof(SoftmaxArgs, kv_doc)]);
  mov(reg_col, ptr[rdi + offsetof(SoftmaxArgs, mask_col_bytes)]);
  Xbyak::Label loop, done;
  test(reg_n, reg_n);
  jz(done, T_NEAR);
  L(loop);
  row();
  add(reg_s, kRowBytes);
  add(reg_row, int(sizeof(RowInfo)));
  add(reg_m, 4);
  add(reg_l, 4);
  add(reg_alpha, 4);
  dec(reg_n);
  jnz(loop, T_NEAR);
  L(done);
  postamble();
  emit_constants();
}

void SoftmaxKernel::row() {
  for (int k = 0; k < 8; ++k) vmovups(Ymm(k), ptr[reg_s + k * 32]);
  if (opt_.custom_bool || opt_.custom_additive) {
    mov(reg_mask, ptr[reg_row + offsetof(RowInfo, mask_row)]);
    add(reg_mask, reg_col);
  }
  score_mods();
  if (opt_.partial) masks();
  online_update();
}

// Spec order: softcap, then ALiBi, then the additive mask.
void SoftmaxKernel::score_mods() {
  const Ymm t8(8), t9(9), t10(10), t11(11);
  if (opt_.softcap > 0) {
    load_exp_constants();
    for (int k = 0; k < 8; ++k) {
      const Ymm x(k);
      vmulps(t8, x, cst(kInvCap));  // y = s / cap
      vandps(t9, t8, cst(kSign));
      vandps(t8, t8, cst(kAbs));
      vmulps(t8, t8, cst(kMinusTwo));
      exp_inplace(t8, t10, t11);  // t = exp(-2|y|)
      vmovaps(t10, cst(kOne));
      vsubps(t10, t10, t8);  // 1 - t
      vaddps(t8, t8, cst(kOne));  // 1 + t
      vdivps(t10, t10, t8);  // tanh|y|
      vorps(t10, t10, t9);
      vmulps(x, t10, cst(kCap));
    }
  }
  if (opt_.alibi) {
    vbroadcastss(t8, ptr[reg_row + offsetof(RowInfo, ipos)]);
    vbroadcastss(t9, ptr[reg_row + offsetof(RowInfo, slope)]);
    vbroadcastss(t10, ptr[rdi + offsetof(SoftmaxArgs, j0f)]);
    for (int k = 0; k < 8; ++k) {
      vaddps(t11, t10, cst(kIotaF + k));  // j
      vsubps(t11, t8, t11);               // i + Skv - Sq - j
      vandps(t11, t11, cst(kAbs));
      vfnmadd231ps(Ymm(k), t9, t11);      // s -= slope * |...|
    }
  }
  if (opt_.custom_additive) {
    for (int k = 0; k < 8; ++k) {
      switch (opt_.additive_type) {
        case ElemType::f16:
          vcvtph2ps(t8, ptr[reg_mask + k * 16]);
          vaddps(Ymm(k), Ymm(k), t8);
          break;
        case ElemType::bf16:
          vpmovzxwd(t8, ptr[reg_mask + k * 16]);
          vpslld(t8, t8, 16);
          vaddps(Ymm(k), Ymm(k), t8);
          break;
        default: vaddps(Ymm(k), Ymm(k), ptr[reg_mask + k * 32]); break;
      }
    }
  }
}

// Per-element boolean masks of a partial tile: masked scores become -inf.
void SoftmaxKernel::masks() {
  const Ymm jb(8), lo(9), hi(10), t11(11), t12(12), zero(14), ninf(15);
  vmovaps(ninf, cst(kNegInf));
  vpbroadcastd(jb, ptr[rdi + offsetof(SoftmaxArgs, j0)]);
  vpbroadcastd(lo, ptr[reg_row + offsetof(RowInfo, lo)]);
  vpbroadcastd(hi, ptr[reg_row + offsetof(RowInfo, hi)]);
  for (int k = 0; k < 8; ++k) {
    vpaddd(t11, jb, cst(kIotaI + k));  // j
    vpcmpgtd(t12, lo, t11);            // lo > j
    vpcmpgtd(t11, t11, hi);            // j > hi
    vpor(t12, t12, t11);
    vblendvps(Ymm(k), Ymm(k), ninf, t12);
  }
  if (opt_.document) {
    vpbroadcastd(lo, ptr[reg_row + offsetof(RowInfo, qdoc)]);
    for (int k = 0; k < 8; ++k) {
      vpcmpeqd(t11, lo, ptr[reg_doc + k * 32]);
      vblendvps(Ymm(k), ninf, Ymm(k), t11);  // keep where the ids are equal
    }
  }
  if (opt_.custom_bool) {
    vpxor(zero, zero, zero);
    for (int k = 0; k < 8; ++k) {
      vpmovzxbd(t11, ptr[reg_mask + k * 8]);
      vpcmpeqd(t11, t11, zero);  // 0 = masked (PyTorch polarity)
      vblendvps(Ymm(k), Ymm(k), ninf, t11);
    }
  }
}

// Running max m and sum l; a row whose max is still -inf uses 0 as its
// reference so that -inf - (-inf) never occurs: P = 0 and alpha = 0.
void SoftmaxKernel::online_update() {
  const Ymm t8(8), t9(9), t10(10), t11(11), t12(12), t13(13);
  vmaxps(t8, Ymm(0), Ymm(1));
  vmaxps(t9, Ymm(2), Ymm(3));
  vmaxps(t8, t8, t9);
  vmaxps(t9, Ymm(4), Ymm(5));
  vmaxps(t10, Ymm(6), Ymm(7));
  vmaxps(t9, t9, t10);
  vmaxps(t8, t8, t9);
  hreduce(t8, t9, /*max=*/true);
  load_exp_constants();
  vbroadcastss(t9, ptr[reg_m]);  // m_old
  vmaxps(t8, t8, t9);            // m_new
  vmovss(ptr[reg_m], Xbyak::Xmm(8));
  vcmpeqps(t10, t8, cst(kNegInf));
  vandnps(t11, t10, t8);  // m_use: m_new, or 0 while it is -inf
  vsubps(t9, t9, t11);
  exp_inplace(t9, t12, t13);  // alpha = exp(m_old - m_use)
  vmovss(ptr[reg_alpha], Xbyak::Xmm(9));
  for (int k = 0; k < 8; ++k) {
    vsubps(Ymm(k), Ymm(k), t11);
    exp_inplace(Ymm(k), t12, t13);
    vmovups(ptr[reg_s + k * 32], Ymm(k));
  }
  vaddps(t12, Ymm(0), Ymm(1));
  vaddps(t13, Ymm(2), Ymm(3));
  vaddps(t12, t12, t13);
  vaddps(t13, Ymm(4), Ymm(5));
  vaddps(t10, Ymm(6), Ymm(7));
  vaddps(t13, t13, t10);
  vaddps(t12, t12, t13);
  hreduce(t12, t13, /*max=*/false);
  vmovss(Xbyak::Xmm(13), ptr[reg_l]);
  vmulss(Xbyak::Xmm(13), Xbyak::Xmm(13), Xbyak::Xmm(9));
  vaddss(Xbyak::Xmm(13), Xbyak::Xmm(13), Xbyak::Xmm(12));
  vmovss(ptr[reg_l], Xbyak::Xmm(13));
}

void SoftmaxKernel::load_exp_constants() {
  vmovaps(exp_lo_, cst(kExpLo));
  vmovaps(exp_log2e_, cst(kLog2e));
}

// exp(x) for x <= 0 (every use here: scores minus the running max, and
// -2|y| in tanh): 2^n * p(r), n = round(x log2 e), r = x - n ln 2 (Cody-Waite
// split), p a degree-7 polynomial (Cephes expf coefficients): about 1 ulp.
// x <= -88 gives exactly 0 (n = -127 builds the bits of +0), so exp(-inf) = 0;
// NaN stays NaN (vmaxps returns its second operand then). Needs
// load_exp_constants().
void SoftmaxKernel::exp_inplace(const Ymm& x, const Ymm& t1, const Ymm& t2) {
  vmaxps(x, exp_lo_, x);
  vmulps(t1, x, exp_log2e_);
  vroundps(t1, t1, 0);
  vfnmadd231ps(x, t1, cst(kLn2Hi));
  vfnmadd231ps(x, t1, cst(kLn2Lo));
  vcvtps2dq(t1, t1);
  vpaddd(t1, t1, cst(kI127));
  vpslld(t1, t1, 23);
  vmovaps(t2, cst(kP0));
  for (int c = kP1; c <= kP5; ++c) vfmadd213ps(t2, x, cst(c));
  vfmadd213ps(t2, x, cst(kOne));
  vfmadd213ps(t2, x, cst(kOne));
  vmulps(x, t2, t1);
}

// Every lane of v becomes the max (or sum) of its 8 lanes.
void SoftmaxKernel::hreduce(const Ymm& v, const Ymm& t, bool max) {
  auto op = [&](const Ymm& a, const Ymm& b) { max ? vmaxps(a, a, b) : vaddps(a, a, b); };
  vperm2f128(t, v, v, 0x01);
  op(v, t);
  vpermilps(t, v, 0x4E);
  op(v, t);
  vpermilps(t, v, 0xB1);
  op(v, t);
}

void SoftmaxKernel::emit_constants() {
  float f[kNumConst][8];
  auto fill = [&](int i, float x) {
    for (float& lane : f[i]) lane = x;
  };
  auto fill_bits = [&](int i, uint32_t b) {
    float x;
    std::memcpy(&x, &b, 4);
    fill(i, x);
  };
  fill(kExpLo, -88.0f);
  fill(kLog2e, 1.44269504088896341f);
  fill(kLn2Hi, 0.693359375f);
  fill(kLn2Lo, -2.12194440e-4f);
  fill(kP0, 1.9875691500e-4f);
  fill(kP1, 1.3981999507e-3f);
  fill(kP2, 8.3334519073e-3f);
  fill(kP3, 4.1665795894e-2f);
  fill(kP4, 1.6666665459e-1f);
  fill(kP5, 5.0000001201e-1f);
  fill(kOne, 1.0f);
  fill_bits(kI127, 127);
  fill(kNegInf, -std::numeric_limits<float>::infinity());
  fill_bits(kAbs, 0x7fffffffu);
  fill_bits(kSign, 0x80000000u);
  fill(kInvCap, opt_.softcap > 0 ? float(1.0 / opt_.softcap) : 0.f);
  fill(kCap, float(opt_.softcap));
  fill(kMinusTwo, -2.0f);
  for (int k = 0; k < 8; ++k)
    for (int lane = 0; lane < 8; ++lane) {
      f[kIotaF + k][lane] = float(k * 8 + lane);
      const uint32_t j = uint32_t(k * 8 + lane);
      std::memcpy(&f[kIotaI + k][lane], &j, 4);
    }
  align(32);
  L(consts_);
  for (int i = 0; i < kNumConst; ++i)
    for (float x : f[i]) {
      uint32_t b;
      std::memcpy(&b, &x, 4);
      dd(b);
    }
}

}  // namespace attngen::x86
