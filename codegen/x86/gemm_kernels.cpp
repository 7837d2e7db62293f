#include "codegen/x86/gemm_kernels.hpp"

#include <cstring>

namespace attngen::x86 {
namespace {

using Xbyak::Xmm;
constexpr int kUnrollD = 4;   // reduction steps per loop iteration of Q.K^T
constexpr int kUnrollN = 8;   // steps per loop iteration of P.V
constexpr int kRowBytes = kBlockKeys * 4;  // one S/P row

}  // namespace

QkKernel::QkKernel(const TilePlan& plan, double scale)
    : JitGenerator(plan.bf16_dot ? "qk_dot" : "qk_gemm", plan.isa), plan_(plan), scale_(float(scale)) {
  finish_generation();
}

void QkKernel::mac(const Xmm& acc, const Xmm& a, const Xmm& b) {
  if (plan_.bf16_dot) vdpbf16ps(acc, a, b);
  else vfmadd231ps(acc, a, b);
}

// Column groups outermost: one group's slice of the K block (steps x 2
// vectors, contiguous in the pack) stays in L1 while every row microtile of
// the tile streams past it.
void QkKernel::generate() {
  preamble();
  mov(reg_q, ptr[rdi + offsetof(QkArgs, q)]);
  mov(reg_kt, ptr[rdi + offsetof(QkArgs, kt)]);
  mov(reg_s, ptr[rdi + offsetof(QkArgs, s)]);
  mov(reg_rows, ptr[rdi + offsetof(QkArgs, rows)]);
  for (int c = 0; c < kBlockKeys / plan_.cols_micro; ++c) {
    mov(reg_qr, reg_q);
    lea(reg_sr, ptr[reg_s + c * plan_.cols_micro * 4]);
    mov(reg_left, reg_rows);
    emit_row_loop(*this, reg_left, plan_.rows_micro, [&](int mr) { microtile(mr, c); },
                  [&](int mr) {
                    add(reg_qr, mr * plan_.q_row_bytes());
                    add(reg_sr, mr * kRowBytes);
                  });
  }
  postamble();
  if (plan_.bf16_dot) {
    uint32_t bits;
    std::memcpy(&bits, &scale_, 4);
    align(4);
    L(scale_label_);
    dd(bits);
  }
}

void QkKernel::microtile(int mr, int c) {
  const int nacc = 2 * plan_.rows_micro, qrb = plan_.q_row_bytes();
  auto acc = [&](int r, int h) { return vmm(r * 2 + h); };
  const Xmm k0 = vmm(nacc), k1 = vmm(nacc + 1);
  // One reduction step at byte offset `qoff` in Q rows and `koff` in the K pack.
  auto step = [&](int qoff, int koff) {
    vmovups(k0, ptr[reg_kd + koff]);
    vmovups(k1, ptr[reg_kd + koff + vbytes()]);
    for (int r = 0; r < mr; ++r) {
      const Xmm b = vmm(nacc + 2 + (r & 1));
      vbroadcastss(b, ptr[reg_qd + r * qrb + qoff]);  // one f32, or one bf16 pair
      mac(acc(r, 0), k0, b);
      mac(acc(r, 1), k1, b);
    }
  };
  for (int r = 0; r < mr; ++r)
    for (int h = 0; h < 2; ++h) vxorps(acc(r, h), acc(r, h), acc(r, h));
  mov(reg_qd, reg_qr);
  const int steps = plan_.qk_steps, step_bytes = plan_.cols_micro * 4;
  lea(reg_kd, ptr[reg_kt + c * steps * step_bytes]);
  if (steps / kUnrollD > 0) {
    Xbyak::Label loop;
    mov(reg_cnt, steps / kUnrollD);
    L(loop);
    for (int u = 0; u < kUnrollD; ++u) step(u * 4, u * step_bytes);
    add(reg_qd, kUnrollD * 4);
    add(reg_kd, kUnrollD * step_bytes);
    dec(reg_cnt);
    jnz(loop, T_NEAR);
  }
  for (int u = 0; u < steps % kUnrollD; ++u) step(u * 4, u * step_bytes);
  for (int r = 0; r < mr; ++r)
    for (int h = 0; h < 2; ++h) {
      if (plan_.bf16_dot) vmulps(acc(r, h), acc(r, h), ptr_b[rip + scale_label_]);
      vmovups(ptr[reg_sr + r * kRowBytes + h * vbytes()], acc(r, h));
    }
}

QkDirectKernel::QkDirectKernel(const TilePlan& plan, int head_dim, ElemType k_type)
    : JitGenerator("qk_direct", plan.isa), plan_(plan), d_(head_dim), type_(k_type) {
  finish_generation();
}

// Key u of the current group at `byte_offset` within its row: AVX2 addresses
// keys 0-3 from base 0 and 4-7 from base 1; AVX-512 uses four bases.
Xbyak::Address QkDirectKernel::key(int u, int byte_offset) {
  const Xbyak::Reg64& base = reg_base[u / 4];
  switch (u % 4) {
    case 0: return ptr[base + byte_offset];
    case 1: return ptr[base + reg_stride + byte_offset];
    case 2: return ptr[base + reg_stride * 2 + byte_offset];
    default: return ptr[base + reg_s3 + byte_offset];
  }
}

void QkDirectKernel::generate() {
  preamble();
  mov(reg_q, ptr[rdi + offsetof(QkDirectArgs, q)]);
  mov(reg_k, ptr[rdi + offsetof(QkDirectArgs, k)]);
  mov(reg_stride, ptr[rdi + offsetof(QkDirectArgs, k_stride)]);
  mov(reg_s, ptr[rdi + offsetof(QkDirectArgs, s)]);
  mov(reg_rows, ptr[rdi + offsetof(QkDirectArgs, rows)]);
  mov(reg_nkeys, ptr[rdi + offsetof(QkDirectArgs, nkeys)]);
  lea(reg_s3, ptr[reg_stride + reg_stride * 2]);
  if (zmm() && d_ % lanes()) set_tail_mask(d_ % lanes(), reg_tmp.cvt32());
  const int g = lanes();
  Xbyak::Label row_loop, full_group, tail_group, zero_fill, row_end, done;
  test(reg_rows, reg_rows);
  jz(done, T_NEAR);
  L(row_loop);
  mov(reg_k0, reg_k);
  xor_(reg_grp, reg_grp);
  // Whole groups of keys, then one group that stops at nkeys, then zeros.
  L(full_group);
  lea(reg_tmp, ptr[reg_grp + g]);
  cmp(reg_tmp, reg_nkeys);
  jg(tail_group, T_NEAR);
  group(false);
  jmp(full_group, T_NEAR);
  L(tail_group);
  cmp(reg_grp, reg_nkeys);
  jge(zero_fill, T_NEAR);
  group(true);
  L(zero_fill);
  cmp(reg_grp, kBlockKeys);
  jge(row_end, T_NEAR);
  vxorps(vmm(0), vmm(0), vmm(0));
  vmovups(ptr[reg_s + reg_grp * 4], vmm(0));
  add(reg_grp, g);
  jmp(zero_fill, T_NEAR);
  L(row_end);
  add(reg_q, d_ * 4);
  add(reg_s, kRowBytes);
  dec(reg_rows);
  jnz(row_loop, T_NEAR);
  L(done);
  postamble();
}

// One group of lanes() keys starting at key reg_grp (pointer reg_k0): every
// key's dot product with the Q row, one accumulator per key. A tail group
// walks key by key and stops at nkeys (its remaining accumulators stay 0).
void QkDirectKernel::group(bool tail) {
  const int g = lanes(), es = int(elem_size(type_));
  const int chunks = (d_ + g - 1) / g;
  const bool d_tail = d_ % g != 0;  // AVX-512 only (k1 holds the tail lanes)
  // Accumulator of key u: AVX2 ymm u; AVX-512 the register whose sum
  // reduce16 leaves in lane u.
  auto acc = [&](int u) { return zmm() ? vmm(reduce16_slot(u)) : vmm(u); };
  const Xmm qv = vmm(g);
  auto load_q = [&](int c) {
    const bool t = d_tail && c == chunks - 1;
    vmovups(t ? (qv | k1 | T_z) : qv, ptr[reg_q + c * vbytes()]);
  };
  for (int u = 0; u < g; ++u) vxorps(acc(u), acc(u), acc(u));
  if (!tail) {
    mov(reg_base[0], reg_k0);
    for (int b = 1; b < g / 4; ++b) lea(reg_base[b], ptr[reg_base[b - 1] + reg_stride * 4]);
    for (int c = 0; c < chunks; ++c) {
      load_q(c);
      for (int u = 0; u < g; ++u) {
        const Xmm k = vmm(g + 1 + u % 4);
        load_f32(type_, k, key(u, c * g * es), d_tail && c == chunks - 1);
        vfmadd231ps(acc(u), k, qv);
      }
    }
    lea(reg_k0, ptr[reg_base[g / 4 - 1] + reg_stride * 4]);
  } else {
    Xbyak::Label reduce;
    mov(reg_base[0], reg_k0);
    for (int u = 0; u < g; ++u) {
      lea(reg_tmp, ptr[reg_grp + u]);
      cmp(reg_tmp, reg_nkeys);
      jge(reduce, T_NEAR);
      for (int c = 0; c < chunks; ++c) {
        load_q(c);
        const Xmm k = vmm(g + 1);
        load_f32(type_, k, ptr[reg_base[0] + c * g * es], d_tail && c == chunks - 1);
        vfmadd231ps(acc(u), k, qv);
      }
      add(reg_base[0], reg_stride);
    }
    L(reduce);
  }
  reduce_and_store();
  add(reg_grp, g);
}

// Horizontal sums of the lanes() accumulators into one vector of scores,
// stored at S[grp].
void QkDirectKernel::reduce_and_store() {
  if (!zmm()) {
    using Xbyak::Ymm;
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
    return;
  }
  reduce16(0, 31, /*max=*/false);
  vmovups(ptr[reg_s + reg_grp * 4], Xbyak::Zmm(0));
}

PvKernel::PvKernel(const TilePlan& plan, int cols, int o_row, ElemType v_type)
    : JitGenerator(plan.bf16_dot && v_type == ElemType::bf16 ? "pv_dot" : "pv_gemm", plan.isa),
      plan_(plan), cols_(cols), o_row_(o_row), type_(v_type), dot_(plan.bf16_dot && v_type == ElemType::bf16) {
  finish_generation();
}

// Column chunks outermost: one chunk's slice of the V block (steps x 2
// vectors) stays in L1 while every row microtile streams past it. The
// arguments are re-read from memory per chunk to free registers.
void PvKernel::generate() {
  preamble();
  mov(reg_vstride, ptr[rdi + offsetof(PvArgs, v_stride)]);
  mov(reg_vc, ptr[rdi + offsetof(PvArgs, v)]);
  mov(reg_oc, ptr[rdi + offsetof(PvArgs, o)]);
  const int full = cols_ / plan_.cols_micro, rest = cols_ % plan_.cols_micro;
  if (full > 0) {
    Xbyak::Label col_loop;
    mov(reg_col, full);
    L(col_loop);
    column_chunk(2, 0);
    add(reg_oc, plan_.cols_micro * 4);
    add(reg_vc, ptr[rdi + offsetof(PvArgs, v_chunk)]);
    dec(reg_col);
    jnz(col_loop, T_NEAR);
  }
  if (rest > 0) {  // AVX-512 only: the last vector's lanes past cols are masked
    const int tail = rest % lanes();
    if (tail) set_tail_mask(tail, reg_tmp.cvt32());
    column_chunk((rest + lanes() - 1) / lanes(), tail);
  }
  postamble();
}

void PvKernel::column_chunk(int nvec, int tail_lanes) {
  mov(reg_pr, ptr[rdi + offsetof(PvArgs, p)]);
  mov(reg_ar, ptr[rdi + offsetof(PvArgs, alpha)]);
  mov(reg_left, ptr[rdi + offsetof(PvArgs, rows)]);
  mov(reg_or, reg_oc);
  emit_row_loop(*this, reg_left, plan_.rows_micro, [&](int mr) { microtile(mr, nvec, tail_lanes); },
                [&](int mr) {
                  add(reg_pr, mr * kRowBytes);
                  add(reg_or, mr * o_row_ * 4);
                  add(reg_ar, mr * 4);
                });
}

void PvKernel::microtile(int mr, int nvec, int tail_lanes) {
  const int nacc = 2 * plan_.rows_micro, o_row = o_row_ * 4;
  const int lane_bytes = dot_ ? 4 : int(elem_size(type_));
  auto acc = [&](int r, int h) { return vmm(r * 2 + h); };
  for (int r = 0; r < mr; ++r) {
    const Xmm a = vmm(nacc + 2);
    vbroadcastss(a, ptr[reg_ar + r * 4]);
    for (int h = 0; h < nvec; ++h) vmulps(acc(r, h), a, ptr[reg_or + r * o_row + h * vbytes()]);
  }
  // One step: V row(s) of the chunk, times the broadcast P element (or bf16 pair).
  auto step = [&](int u) {
    for (int h = 0; h < nvec; ++h) {
      const Xmm v = vmm(nacc + h);
      const bool t = tail_lanes && h == nvec - 1;
      const Xbyak::Address at = ptr[reg_vn + h * lanes() * lane_bytes];
      if (dot_) vmovups(t ? (v | k1 | T_z) : v, at);
      else load_f32(type_, v, at, t);
    }
    add(reg_vn, reg_vstride);
    for (int r = 0; r < mr; ++r) {
      const Xmm b = vmm(nacc + 2 + (r & 1));
      vbroadcastss(b, ptr[reg_pn + r * kRowBytes + u * 4]);
      for (int h = 0; h < nvec; ++h) {
        if (dot_) vdpbf16ps(acc(r, h), vmm(nacc + h), b);
        else vfmadd231ps(acc(r, h), vmm(nacc + h), b);
      }
    }
  };
  mov(reg_pn, reg_pr);
  mov(reg_vn, reg_vc);
  mov(reg_cnt, ptr[rdi + offsetof(PvArgs, nsteps)]);
  Xbyak::Label unrolled, single, done;
  L(unrolled);
  cmp(reg_cnt, kUnrollN);
  jl(single, T_NEAR);
  for (int u = 0; u < kUnrollN; ++u) step(u);
  add(reg_pn, kUnrollN * 4);
  sub(reg_cnt, kUnrollN);
  jmp(unrolled, T_NEAR);
  L(single);
  test(reg_cnt, reg_cnt);
  jz(done, T_NEAR);
  step(0);
  add(reg_pn, 4);
  dec(reg_cnt);
  jmp(single, T_NEAR);
  L(done);
  for (int r = 0; r < mr; ++r)
    for (int h = 0; h < nvec; ++h) vmovups(ptr[reg_or + r * o_row + h * vbytes()], acc(r, h));
}

}  // namespace attngen::x86
