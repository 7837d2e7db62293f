#include "codegen/x86/softmax_kernel.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace attngen::x86 {
namespace {

using Xbyak::Xmm;

// Indices of the vector constants (lanes() floats each) in the kernel's table.
enum Const : int {
  kExpLo, kLog2e, kLn2Hi, kLn2Lo, kP0, kP1, kP2, kP3, kP4, kP5, kOne, kMagic, kNegInf, kAbs, kSign,
  kInvCap, kCap, kMinusTwo, kTanhSmall, kTanhP0, kTanhP1, kTanhP2, kTanhP3, kTanhP4, kIotaF,
  kIotaI = kIotaF + 8, kNumConst = kIotaI + 8
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

SoftmaxKernel::SoftmaxKernel(const SoftmaxOptions& opt, Isa isa)
    : JitGenerator(opt.partial ? "softmax_partial" : "softmax_full", isa), opt_(opt), nvec_(kBlockKeys / lanes()),
      exp_lo_(vmm(14)), exp_log2e_(vmm(15)) {
  finish_generation();
}

Xbyak::Address SoftmaxKernel::cst(int index) { return ptr[rip + consts_ + index * vbytes()]; }

// A partial tile may hold keys past the tensors' end (the last block): the
// AVX-512 variant then loads the custom mask and document ids under k4-k7.
bool SoftmaxKernel::reads_block_data() const {
  return zmm() && opt_.partial && (opt_.document || opt_.custom_bool || opt_.custom_additive);
}

int SoftmaxKernel::key_mask(int vec) const { return reads_block_data() ? 4 + vec : 0; }

// S into `s`, the row descriptions into `rows`, the other arguments into their registers.
void SoftmaxKernel::load_args(const Xbyak::Reg64& s, const Xbyak::Reg64& rows) {
  mov(s, ptr[rdi + offsetof(SoftmaxArgs, s)]);
  mov(rows, ptr[rdi + offsetof(SoftmaxArgs, rows)]);
  mov(reg_m, ptr[rdi + offsetof(SoftmaxArgs, m)]);
  mov(reg_l, ptr[rdi + offsetof(SoftmaxArgs, l)]);
  mov(reg_alpha, ptr[rdi + offsetof(SoftmaxArgs, alpha)]);
  mov(reg_n, ptr[rdi + offsetof(SoftmaxArgs, nrows)]);
  mov(reg_doc, ptr[rdi + offsetof(SoftmaxArgs, kv_doc)]);
  mov(reg_col, ptr[rdi + offsetof(SoftmaxArgs, mask_col_bytes)]);
}

void SoftmaxKernel::generate() {
  if (zmm()) return generate_rows16();
  preamble();
  load_args(reg_s, reg_row);
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

void SoftmaxKernel::generate_rows16() {
  using Xbyak::Zmm;
  constexpr int kGroup = 16, kStack = 64;  // the group's reference maxima, m_use
  auto acc = [&](int r) { return Zmm(16 + reduce16_slot(r)); };  // row r's max, then sum
  const Zmm t8(8), t9(9), t10(10), t11(11), t12(12), t13(13);
  preamble();
  sub(rsp, kStack);
  load_args(reg_s_group, reg_row_group);
  if (reads_block_data()) {
    // k4-k7: the keys of vectors 0-3 inside the tensors (the block's first nkeys).
    mov(rax, ptr[rdi + offsetof(SoftmaxArgs, nkeys)]);
    mov(r13, -1);
    bzhi(r13, r13, rax);
    kmovq(k4, r13);
    for (int k = 1; k < nvec_; ++k) kshiftrq(Xbyak::Opmask(4 + k), k4, uint8_t(16 * k));
  }
  Xbyak::Label group_loop, done;
  test(reg_n, reg_n);
  jle(done, T_NEAR);
  L(group_loop);
  // reg_cnt = rows of this group, k3 = their lanes.
  mov(reg_cnt, reg_n);
  mov(eax, kGroup);
  cmp(reg_cnt, rax);
  cmovg(reg_cnt, rax);
  mov(eax, 1);
  shlx(eax, eax, reg_cnt.cvt32());
  sub(eax, 1);
  kmovw(k3, eax);

  // Score mods and masks (written back when they change S), and each row's max vector.
  const bool rewrites = opt_.partial || opt_.softcap > 0 || opt_.alibi || opt_.custom_additive;
  mov(reg_s, reg_s_group);
  mov(reg_row, reg_row_group);
  for (int r = 0; r < kGroup; ++r) {
    Xbyak::Label absent, next;
    cmp(reg_cnt, r);
    jle(absent, T_NEAR);
    for (int k = 0; k < nvec_; ++k) vmovups(vmm(k), ptr[reg_s + k * vbytes()]);
    if (opt_.custom_bool || opt_.custom_additive) {
      mov(reg_mask, ptr[reg_row + offsetof(RowInfo, mask_row)]);
      add(reg_mask, reg_col);
    }
    score_mods();
    if (opt_.partial) masks_avx512();
    if (rewrites)
      for (int k = 0; k < nvec_; ++k) vmovups(ptr[reg_s + k * vbytes()], vmm(k));
    fold(acc(r).getIdx(), 9, 10, /*max=*/true);
    add(reg_s, kRowBytes);
    add(reg_row, int(sizeof(RowInfo)));
    jmp(next, T_NEAR);
    L(absent);
    vbroadcastss(acc(r), cst(kNegInf));
    L(next);
  }
  reduce16(16, 8, /*max=*/true);  // zmm16 lane r: the max of row r

  // Running max, the reference m_use (0 while the max is -inf) and alpha, for 16 rows at once.
  load_exp_constants();
  vmovups(t9 | k3 | T_z, ptr[reg_m]);  // m_old
  vmaxps(t8, Zmm(16), t9);             // m_new
  vmovups(ptr[reg_m] | k3, t8);
  vcmpps(k2, t8, cst(kNegInf), 4);     // m_new != -inf (NaN included)
  vmovaps(t11 | k2 | T_z, t8);         // m_use
  vmovups(ptr[rsp], t11);
  vsubps(t9, t9, t11);
  exp_inplace(t9, t12, t13);           // alpha = exp(m_old - m_use)
  vmovups(ptr[reg_alpha] | k3, t9);

  // P = exp(S - m_use) per row, and each row's sum vector.
  for (int r = 0; r < kGroup; ++r) {
    Xbyak::Label absent, next;
    cmp(reg_cnt, r);
    jle(absent, T_NEAR);
    vbroadcastss(t10, ptr[rsp + r * 4]);
    for (int k = 0; k < nvec_; ++k) {
      vmovups(vmm(k), ptr[reg_s_group + r * kRowBytes + k * vbytes()]);
      vsubps(vmm(k), vmm(k), t10);
      exp_inplace(vmm(k), t12, t13);
      if (!opt_.p_bf16) vmovups(ptr[reg_s_group + r * kRowBytes + k * vbytes()], vmm(k));
    }
    fold(acc(r).getIdx(), 9, 10, /*max=*/false);
    if (opt_.p_bf16) {
      // Round P to bf16 pairs for vdpbf16ps (the first half of the row).
      for (int k = 0; k < nvec_; ++k) {
        vcvtneps2bf16(Xbyak::Ymm(k), Zmm(k), Xbyak::EvexEncoding);
        vmovups(ptr[reg_s_group + r * kRowBytes + k * 32], Xbyak::Ymm(k));
      }
    }
    jmp(next, T_NEAR);
    L(absent);
    vxorps(acc(r), acc(r), acc(r));
    L(next);
  }
  reduce16(16, 8, /*max=*/false);  // zmm16 lane r: the sum of row r's P
  vmovups(t9 | k3 | T_z, ptr[reg_l]);
  vmovups(t10 | k3 | T_z, ptr[reg_alpha]);
  vfmadd231ps(Zmm(16), t9, t10);  // l = l alpha + sum
  vmovups(ptr[reg_l] | k3, Zmm(16));

  add(reg_s_group, kGroup * kRowBytes);
  add(reg_row_group, kGroup * int(sizeof(RowInfo)));
  add(reg_m, kGroup * 4);
  add(reg_l, kGroup * 4);
  add(reg_alpha, kGroup * 4);
  sub(reg_n, kGroup);
  jg(group_loop, T_NEAR);
  L(done);
  add(rsp, kStack);
  postamble();
  emit_constants();
}

void SoftmaxKernel::row() {
  for (int k = 0; k < nvec_; ++k) vmovups(vmm(k), ptr[reg_s + k * vbytes()]);
  if (opt_.custom_bool || opt_.custom_additive) {
    mov(reg_mask, ptr[reg_row + offsetof(RowInfo, mask_row)]);
    add(reg_mask, reg_col);
  }
  score_mods();
  if (opt_.partial) zmm() ? masks_avx512() : masks();
  online_update();
}

// Spec order: softcap, then ALiBi, then the additive mask.
void SoftmaxKernel::score_mods() {
  const Xmm t8 = vmm(8), t9 = vmm(9), t10 = vmm(10), t11 = vmm(11);
  if (opt_.softcap > 0) {
    // s = cap tanh(y), y = s / cap. For |y| >= 0.625: tanh|y| = (1 - e) / (1 + e),
    // e = exp(-2|y|). Below, 1 - e would cancel (the error would grow with the
    // cap): s (1 + z P(z)), z = y^2, Cephes tanhf's odd polynomial, written
    // with s rather than cap y so that caps past the f32 range are exact too.
    load_exp_constants();
    const Xmm t12 = vmm(12), t13 = vmm(13);
    for (int k = 0; k < nvec_; ++k) {
      const Xmm x = vmm(k);
      vmulps(t8, x, cst(kInvCap));  // y
      vmulps(t9, t8, t8);           // z
      vmovaps(t10, cst(kTanhP0));
      for (int c = kTanhP1; c <= kTanhP4; ++c) vfmadd213ps(t10, t9, cst(c));
      vmulps(t10, t10, t9);
      vfmadd213ps(t10, x, x);       // small: s + s z P(z)
      vandps(t11, t8, cst(kAbs));   // |y|
      if (zmm()) vcmpps(k2, t11, cst(kTanhSmall), 1);  // |y| < 0.625
      else vcmpltps(t8, t11, cst(kTanhSmall));
      vmulps(t11, t11, cst(kMinusTwo));
      exp_inplace(t11, t12, t13);   // e
      vmovaps(t12, cst(kOne));
      vsubps(t12, t12, t11);        // 1 - e
      vaddps(t11, t11, cst(kOne));  // 1 + e
      vdivps(t12, t12, t11);        // tanh|y|
      vmulps(t12, t12, cst(kCap));
      vandps(t11, x, cst(kSign));
      vorps(t12, t12, t11);         // large: cap tanh(y)
      if (zmm()) vblendmps(x | k2, t12, t10);
      else vblendvps(x, t12, t10, t8);
    }
  }
  if (opt_.alibi) {
    vbroadcastss(t8, ptr[reg_row + offsetof(RowInfo, ipos)]);
    vbroadcastss(t9, ptr[reg_row + offsetof(RowInfo, slope)]);
    vbroadcastss(t10, ptr[rdi + offsetof(SoftmaxArgs, j0f)]);
    for (int k = 0; k < nvec_; ++k) {
      vaddps(t11, t10, cst(kIotaF + k));  // j
      vsubps(t11, t8, t11);               // i + Skv - Sq - j
      vandps(t11, t11, cst(kAbs));
      vfnmadd231ps(vmm(k), t9, t11);      // s -= slope * |...|
    }
  }
  if (opt_.custom_additive) {
    for (int k = 0; k < nvec_; ++k) {
      const int valid = key_mask(k);
      if (opt_.additive_type == ElemType::f32 && !valid) {
        vaddps(vmm(k), vmm(k), ptr[reg_mask + k * vbytes()]);
      } else {
        load_f32(opt_.additive_type, t8, ptr[reg_mask + k * lanes() * int(elem_size(opt_.additive_type))], valid);
        vaddps(vmm(k), vmm(k), t8);
      }
    }
  }
}

// Per-element boolean masks of a partial tile (AVX2): masked scores become -inf.
void SoftmaxKernel::masks() {
  using Xbyak::Ymm;
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

// The same with opmasks: every mask ANDs into k2 ("allowed"), then one blend
// per vector keeps the allowed scores and puts -inf elsewhere.
void SoftmaxKernel::masks_avx512() {
  const Xmm jb = vmm(8), lo = vmm(9), hi = vmm(10), j = vmm(11), t = vmm(12), qdoc = vmm(13), ninf = vmm(15);
  vbroadcastss(ninf, cst(kNegInf));
  vpbroadcastd(jb, ptr[rdi + offsetof(SoftmaxArgs, j0)]);
  vpbroadcastd(lo, ptr[reg_row + offsetof(RowInfo, lo)]);
  vpbroadcastd(hi, ptr[reg_row + offsetof(RowInfo, hi)]);
  if (opt_.document) vpbroadcastd(qdoc, ptr[reg_row + offsetof(RowInfo, qdoc)]);
  for (int k = 0; k < nvec_; ++k) {
    const Xbyak::Opmask valid(key_mask(k));  // keys inside the tensors (masked loads)
    vpaddd(j, jb, cst(kIotaI + k));
    vpcmpd(k2, j, lo, 5);       // j >= lo
    vpcmpd(k2 | k2, j, hi, 2);  // and j <= hi
    if (opt_.document) {
      vmovdqu32(t | valid | T_z, ptr[reg_doc + k * vbytes()]);
      vpcmpeqd(k2 | k2, qdoc, t);
    }
    if (opt_.custom_bool) {
      vpmovzxbd(t | valid | T_z, ptr[reg_mask + k * lanes()]);
      vptestmd(k2 | k2, t, t);  // nonzero = kept (PyTorch polarity)
    }
    vblendmps(vmm(k) | k2, ninf, vmm(k));
  }
}

// Running max m and sum l; a row whose max is still -inf uses 0 as its
// reference so that -inf - (-inf) never occurs: P = 0 and alpha = 0.
void SoftmaxKernel::online_update() {
  const Xmm t8 = vmm(8), t9 = vmm(9), t10 = vmm(10), t11 = vmm(11), t12 = vmm(12), t13 = vmm(13);
  fold(8, 9, 10, /*max=*/true);
  hreduce(8, 9, /*max=*/true);
  load_exp_constants();
  vbroadcastss(t9, ptr[reg_m]);  // m_old
  vmaxps(t8, t8, t9);            // m_new
  vmovss(ptr[reg_m], Xbyak::Xmm(8));
  if (zmm()) {
    vcmpps(k2, t8, cst(kNegInf), 4);  // m_new != -inf (NaN included)
    vmovaps(t11 | k2 | T_z, t8);      // m_use: m_new, or 0 while it is -inf
  } else {
    vcmpeqps(t10, t8, cst(kNegInf));
    vandnps(t11, t10, t8);  // m_use: m_new, or 0 while it is -inf
  }
  vsubps(t9, t9, t11);
  exp_inplace(t9, t12, t13);  // alpha = exp(m_old - m_use)
  vmovss(ptr[reg_alpha], Xbyak::Xmm(9));
  for (int k = 0; k < nvec_; ++k) {
    vsubps(vmm(k), vmm(k), t11);
    exp_inplace(vmm(k), t12, t13);
    if (!opt_.p_bf16) vmovups(ptr[reg_s + k * vbytes()], vmm(k));
  }
  fold(12, 13, 10, /*max=*/false);
  hreduce(12, 13, /*max=*/false);
  if (opt_.p_bf16) {
    // Round P to bf16 pairs for vdpbf16ps (the first half of the row).
    for (int k = 0; k < nvec_; ++k) {
      vcvtneps2bf16(Xbyak::Ymm(k), Xbyak::Zmm(k), Xbyak::EvexEncoding);
      vmovups(ptr[reg_s + k * 32], Xbyak::Ymm(k));
    }
  }
  vmovss(Xbyak::Xmm(13), ptr[reg_l]);
  vmulss(Xbyak::Xmm(13), Xbyak::Xmm(13), Xbyak::Xmm(9));
  vaddss(Xbyak::Xmm(13), Xbyak::Xmm(13), Xbyak::Xmm(12));
  vmovss(ptr[reg_l], Xbyak::Xmm(13));
}

void SoftmaxKernel::fold(int dst, int t1, int t2, bool max) {
  auto op = [&](int a, int b, int c) { max ? vmaxps(vmm(a), vmm(b), vmm(c)) : vaddps(vmm(a), vmm(b), vmm(c)); };
  op(dst, 0, 1);
  op(t1, 2, 3);
  op(dst, dst, t1);
  if (nvec_ == 8) {
    op(t1, 4, 5);
    op(t2, 6, 7);
    op(t1, t1, t2);
    op(dst, dst, t1);
  }
}

void SoftmaxKernel::load_exp_constants() {
  vmovaps(exp_lo_, cst(kExpLo));
  vmovaps(exp_log2e_, cst(kLog2e));
}

// exp(x) for x <= 0 (every use here: scores minus the running max, and
// -2|y| in tanh): 2^n * p(r), n = round(x log2 e), r = x - n ln 2 (Cody-Waite
// split), p a degree-7 polynomial (Cephes expf coefficients): about 1 ulp.
// n comes from one FMA with a magic constant: t = x log2e + (1.5 * 2^23 + 127)
// rounds x log2e to an integer (nearest-even) and leaves n + 127 in the low
// bits of t, so t - magic is n as a float and t << 23 is 2^n as bits.
// x <= -88 gives exactly 0 (n = -127 builds the bits of +0), so exp(-inf) = 0;
// NaN stays NaN (vmaxps returns its second operand then). Needs
// load_exp_constants().
void SoftmaxKernel::exp_inplace(const Xmm& x, const Xmm& t1, const Xmm& t2) {
  vmaxps(x, exp_lo_, x);
  vmovaps(t1, cst(kMagic));
  vfmadd231ps(t1, x, exp_log2e_);  // t
  vsubps(t2, t1, cst(kMagic));     // n
  vfnmadd231ps(x, t2, cst(kLn2Hi));
  vfnmadd231ps(x, t2, cst(kLn2Lo));
  vpslld(t1, t1, 23);              // 2^n
  vmovaps(t2, cst(kP0));
  for (int c = kP1; c <= kP5; ++c) vfmadd213ps(t2, x, cst(c));
  vfmadd213ps(t2, x, cst(kOne));
  vfmadd213ps(t2, x, cst(kOne));
  vmulps(x, t2, t1);
}

void SoftmaxKernel::hreduce(int v, int t, bool max) {
  auto op = [&](int a, int b) { max ? vmaxps(vmm(a), vmm(a), vmm(b)) : vaddps(vmm(a), vmm(a), vmm(b)); };
  if (zmm()) {
    vshuff32x4(Xbyak::Zmm(t), Xbyak::Zmm(v), Xbyak::Zmm(v), 0x4E);  // swap 256-bit halves
    op(v, t);
    vshuff32x4(Xbyak::Zmm(t), Xbyak::Zmm(v), Xbyak::Zmm(v), 0xB1);  // swap 128-bit lanes
  } else {
    vperm2f128(Xbyak::Ymm(t), Xbyak::Ymm(v), Xbyak::Ymm(v), 0x01);
  }
  op(v, t);
  vpermilps(vmm(t), vmm(v), 0x4E);
  op(v, t);
  vpermilps(vmm(t), vmm(v), 0xB1);
  op(v, t);
}

void SoftmaxKernel::emit_constants() {
  const int n = lanes();
  std::vector<uint32_t> table(size_t(kNumConst * n));
  auto fill_bits = [&](int i, uint32_t b) {
    for (int lane = 0; lane < n; ++lane) table[size_t(i * n + lane)] = b;
  };
  auto fill = [&](int i, float x) {
    uint32_t b;
    std::memcpy(&b, &x, 4);
    fill_bits(i, b);
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
  fill(kMagic, 12583039.0f);  // 1.5 * 2^23 + 127
  fill(kNegInf, -std::numeric_limits<float>::infinity());
  fill_bits(kAbs, 0x7fffffffu);
  fill_bits(kSign, 0x80000000u);
  fill(kInvCap, opt_.softcap > 0 ? float(1.0 / opt_.softcap) : 0.f);
  // The large branch needs |s| >= 0.625 cap: a cap past the f32 range only
  // meets it at s = inf (an overflowed score); FLT_MAX keeps that finite.
  fill(kCap, float(std::min<double>(opt_.softcap, std::numeric_limits<float>::max())));
  fill(kTanhSmall, 0.625f);
  fill(kTanhP0, -5.70498872745e-3f);
  fill(kTanhP1, 2.06390887954e-2f);
  fill(kTanhP2, -5.37397155531e-2f);
  fill(kTanhP3, 1.33314422036e-1f);
  fill(kTanhP4, -3.33332819422e-1f);
  fill(kMinusTwo, -2.0f);
  for (int k = 0; k < nvec_; ++k)
    for (int lane = 0; lane < n; ++lane) {
      const float jf = float(k * n + lane);
      std::memcpy(&table[size_t((kIotaF + k) * n + lane)], &jf, 4);
      table[size_t((kIotaI + k) * n + lane)] = uint32_t(k * n + lane);
    }
  align(64);
  L(consts_);
  for (uint32_t b : table) dd(b);
}

}  // namespace attngen::x86
