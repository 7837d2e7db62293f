#include "codegen/x86/gemm_kernels.hpp"

namespace attngen::x86 {
namespace {

using Xbyak::Xmm;
constexpr int kUnrollD = 4;   // reduction steps per loop iteration of Q.K^T
constexpr int kUnrollN = 8;   // steps per loop iteration of P.V
constexpr int kRowBytes = kBlockKeys * 4;  // one S/P row
// P.V in place on the vdpbf16ps plan: the second V row's vectors, the interleave index.
constexpr int kSecondRow = 22, kInterleaveIdx = 31;

}  // namespace

QkKernel::QkKernel(const TilePlan& plan, double scale)
    : JitGenerator(plan.bf16_dot ? "qk_dot" : "qk_gemm", plan.isa), plan_(plan), scale_(float(scale)) {
  finish_generation();
}

void QkKernel::mac(const Xmm& acc, const Xmm& a, const Xmm& b) {
  if (plan_.bf16_dot) vdpbf16ps(acc, a, b);
  else vfmadd231ps(acc, a, b);
}

// Column groups outermost (AVX2: four groups of 16 keys; AVX-512: one of 64):
// one group's slice of the K block, contiguous in the pack, stays in L1 while
// every row microtile of the tile streams past it.
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
  if (plan_.bf16_dot) emit_f32_constant(scale_label_, scale_);
}

void QkKernel::microtile(int mr, int c) {
  // Registers: mr x vecs accumulators, then vecs K vectors, then two broadcasts.
  const int vecs = plan_.cols_micro / lanes(), nacc = plan_.rows_micro * vecs, qrb = plan_.q_row_bytes();
  auto acc = [&](int r, int h) { return vmm(r * vecs + h); };
  // One reduction step at byte offset `qoff` in Q rows and `koff` in the K pack.
  auto step = [&](int qoff, int koff) {
    for (int h = 0; h < vecs; ++h) vmovups(vmm(nacc + h), ptr[reg_kd + koff + h * vbytes()]);
    for (int r = 0; r < mr; ++r) {
      const Xmm b = vmm(nacc + vecs + (r & 1));
      vbroadcastss(b, ptr[reg_qd + r * qrb + qoff]);  // one f32, or one bf16 pair
      for (int h = 0; h < vecs; ++h) mac(acc(r, h), vmm(nacc + h), b);
    }
  };
  for (int r = 0; r < mr; ++r)
    for (int h = 0; h < vecs; ++h) vxorps(acc(r, h), acc(r, h), acc(r, h));
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
    for (int h = 0; h < vecs; ++h) {
      if (plan_.bf16_dot) vmulps(acc(r, h), acc(r, h), ptr_b[rip + scale_label_]);
      vmovups(ptr[reg_sr + r * kRowBytes + h * vbytes()], acc(r, h));
    }
}

QkDirectKernel::QkDirectKernel(const TilePlan& plan, int head_dim, ElemType k_type, double scale)
    : JitGenerator(plan.bf16_dot ? "qk_direct_dot" : "qk_direct", plan.isa), plan_(plan), d_(head_dim), type_(k_type),
      dot_(plan.bf16_dot), scale_(float(scale)), chunk_(plan.bf16_dot ? 32 : lanes()) {
  finish_generation();
}

// Key u of the current group at `byte_offset` within its row: AVX2 addresses
// keys 0-3 from base 0 and 4-7 from base 1; AVX-512 uses four bases.
Xbyak::Address QkDirectKernel::key(int u, int byte_offset) {
  return ptr[row_of_16(reg_base, reg_stride, reg_s3, u) + byte_offset];
}

void QkDirectKernel::generate() {
  preamble();
  mov(reg_q, ptr[rdi + offsetof(QkDirectArgs, q)]);
  mov(reg_k, ptr[rdi + offsetof(QkDirectArgs, k)]);
  mov(reg_stride, ptr[rdi + offsetof(QkDirectArgs, k_stride)]);
  mov(reg_s, ptr[rdi + offsetof(QkDirectArgs, s)]);
  mov(reg_rows, ptr[rdi + offsetof(QkDirectArgs, rows)]);
  mov(reg_nkeys, ptr[rdi + offsetof(QkDirectArgs, nkeys)]);
  mov(reg_pf, ptr[rdi + offsetof(QkDirectArgs, prefetch)]);  // rdi is free from here
  lea(reg_s3, ptr[reg_stride + reg_stride * 2]);
  if (dot_ && d_ % chunk_) {  // k1: the bf16 elements of the last chunk (odd D: the last pair's half)
    mov(reg_tmp.cvt32(), (1u << (d_ % chunk_)) - 1);
    kmovd(k1, reg_tmp.cvt32());
  } else if (zmm() && d_ % lanes()) {
    set_tail_mask(d_ % lanes(), reg_tmp.cvt32());
  }
  // Rows in passes of 4, 2, then 1 (AVX-512; AVX2: one row per pass).
  Xbyak::Label done;
  for (int r : zmm() ? std::vector<int>{4, 2, 1} : std::vector<int>{1}) {
    Xbyak::Label loop, next;
    L(loop);
    cmp(reg_rows, r);
    jl(next, T_NEAR);
    pass(r);
    add(reg_q, r * (dot_ ? plan_.q_row_bytes() : d_ * 4));
    add(reg_s, r * kRowBytes);
    sub(reg_rows, r);
    jmp(loop, T_NEAR);
    L(next);
  }
  L(done);
  postamble();
  if (dot_) emit_f32_constant(scale_label_, scale_);
}

// One pass over the block's keys for `rows` Q rows: whole groups of keys,
// then one group that stops at nkeys, then zeros up to 64 keys.
void QkDirectKernel::pass(int rows) {
  const int keys = lanes() / rows;  // keys per group: rows x keys accumulators
  if (zmm())  // k4 + r: the lanes of row r in the reduced vector
    for (int r = 0; r < rows; ++r) {
      mov(reg_tmp.cvt32(), ((1u << keys) - 1) << (r * keys));
      kmovw(Xbyak::Opmask(4 + r), reg_tmp.cvt32());
    }
  Xbyak::Label full_group, tail_group, zero_fill, end;
  mov(reg_k0, reg_k);
  xor_(reg_grp, reg_grp);
  L(full_group);
  lea(reg_tmp, ptr[reg_grp + keys]);
  cmp(reg_tmp, reg_nkeys);
  jg(tail_group, T_NEAR);
  group(rows, false);
  jmp(full_group, T_NEAR);
  L(tail_group);
  cmp(reg_grp, reg_nkeys);
  jge(zero_fill, T_NEAR);
  group(rows, true);
  L(zero_fill);
  cmp(reg_grp, kBlockKeys);
  jge(end, T_NEAR);
  vxorps(vmm(0), vmm(0), vmm(0));
  for (int r = 0; r < rows; ++r) {
    const Xbyak::Address at = ptr[reg_s + reg_grp * 4 + r * (kRowBytes - keys * 4)];
    zmm() ? vmovups(at | Xbyak::Opmask(4 + r), vmm(0)) : vmovups(at, vmm(0));
  }
  add(reg_grp, keys);
  jmp(zero_fill, T_NEAR);
  L(end);
}

// One group of keys starting at key reg_grp (pointer reg_k0) for `rows` Q
// rows: every (row, key) dot product in its own accumulator, each K chunk
// loaded (and converted) once for all rows. A tail group walks key by key
// and stops at nkeys (its remaining accumulators stay 0).
void QkDirectKernel::group(int rows, bool tail) {
  const int g = lanes(), es = int(elem_size(type_)), keys = g / rows;
  const int chunks = (d_ + chunk_ - 1) / chunk_;
  const bool d_tail = d_ % chunk_ != 0;  // AVX-512 only (k1 holds the tail lanes or elements)
  // Accumulator of (row r, key u): AVX2 ymm u; AVX-512 the register whose sum
  // reduce16 leaves in lane r * keys + u.
  auto acc = [&](int r, int u) { return zmm() ? vmm(reduce16_slot(r * keys + u)) : vmm(u); };
  auto qv = [&](int r) { return vmm(g + r); };               // AVX2 ymm8; AVX-512 zmm16-19
  auto kv = [&](int u) { return vmm(g + (zmm() ? 4 : 1) + u % 4); };  // ymm9-12; zmm20-23
  const int q_row = dot_ ? plan_.q_row_bytes() : d_ * 4;
  auto load_q = [&](int c) {
    const bool t = d_tail && c == chunks - 1;
    for (int r = 0; r < rows; ++r) {
      const Xbyak::Address at = ptr[reg_q + r * q_row + c * vbytes()];
      if (dot_) vmovdqu16(t ? (qv(r) | k1 | T_z) : qv(r), at);
      else vmovups(t ? (qv(r) | k1 | T_z) : qv(r), at);
    }
  };
  // K chunk c of key u's row (as stored for vdpbf16ps, else converted to f32), then its products.
  auto load_k = [&](const Xmm& dst, const Xbyak::Address& at, int c) {
    const bool t = d_tail && c == chunks - 1;
    if (dot_) vmovdqu16(t ? (dst | k1 | T_z) : dst, at);
    else load_f32(type_, dst, at, t ? 1 : 0);
  };
  auto mac = [&](const Xmm& acc, const Xmm& k, const Xmm& q) {
    if (dot_) vdpbf16ps(acc, k, q);
    else vfmadd231ps(acc, k, q);
  };
  for (int i = 0; i < g; ++i) vxorps(vmm(i), vmm(i), vmm(i));
  if (!tail) {
    mov(reg_base[0], reg_k0);
    for (int b = 1; b < keys / 4; ++b) lea(reg_base[b], ptr[reg_base[b - 1] + reg_stride * 4]);
    prefetch_next_rows(keys);
    for (int c = 0; c < chunks; ++c) {
      load_q(c);
      for (int u = 0; u < keys; ++u) {
        load_k(kv(u), key(u, c * chunk_ * es), c);
        for (int r = 0; r < rows; ++r) mac(acc(r, u), kv(u), qv(r));
      }
    }
    lea(reg_k0, ptr[reg_base[keys / 4 - 1] + reg_stride * 4]);
  } else {
    Xbyak::Label reduce;
    mov(reg_base[0], reg_k0);
    for (int u = 0; u < keys; ++u) {
      lea(reg_tmp, ptr[reg_grp + u]);
      cmp(reg_tmp, reg_nkeys);
      jge(reduce, T_NEAR);
      for (int c = 0; c < chunks; ++c) {
        load_q(c);
        load_k(kv(0), ptr[reg_base[0] + c * chunk_ * es], c);
        for (int r = 0; r < rows; ++r) mac(acc(r, u), kv(0), qv(r));
      }
      add(reg_base[0], reg_stride);
    }
    L(reduce);
  }
  reduce_and_store(rows);
  add(reg_grp, keys);
}

// The group's key rows at reg_pf bytes further (the next block), into L2.
void QkDirectKernel::prefetch_next_rows(int keys) {
  const int row_bytes = d_ * int(elem_size(type_));
  for (int u = 0; u < keys; ++u) {
    lea(reg_tmp, key(u, 0));
    add(reg_tmp, reg_pf);
    for (int line = 0; line < row_bytes; line += 64) prefetcht1(ptr[reg_tmp + line]);
  }
}

// Horizontal sums of the accumulators into one vector, stored at S[row][grp + u].
void QkDirectKernel::reduce_and_store(int rows) {
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
  if (dot_) vmulps(Xbyak::Zmm(0), Xbyak::Zmm(0), ptr_b[rip + scale_label_]);  // Q was not scaled
  // Lanes [r * keys, (r + 1) * keys) belong to row r: a masked store puts them
  // at S[r][grp .. grp + keys).
  const int keys = lanes() / rows;
  for (int r = 0; r < rows; ++r)
    vmovups(ptr[reg_s + reg_grp * 4 + r * (kRowBytes - keys * 4)] | Xbyak::Opmask(4 + r), Xbyak::Zmm(0));
}

PvKernel::PvKernel(const TilePlan& plan, int cols, int o_row, ElemType v_type, bool direct)
    : JitGenerator(direct ? (plan.bf16_dot ? "pv_direct_dot" : "pv_direct") : plan.bf16_dot ? "pv_dot" : "pv_gemm",
                   plan.isa),
      plan_(plan), cols_(cols), o_row_(o_row), type_(v_type), dot_(plan.bf16_dot), direct_(direct),
      rows_micro_(direct ? plan.direct_rows : plan.rows_micro),
      vecs_(direct ? plan.direct_vecs : plan.cols_micro / plan.vec_lanes) {
  finish_generation();
}

// Column chunks outermost: one chunk's slice of the V block (steps x the
// microtile's vectors) stays in L1 while every row microtile streams past it.
// The arguments are re-read from memory per chunk to free registers.
void PvKernel::generate() {
  preamble();
  mov(reg_vstride, ptr[rdi + offsetof(PvArgs, v_stride)]);
  mov(reg_vc, ptr[rdi + offsetof(PvArgs, v)]);
  mov(reg_oc, ptr[rdi + offsetof(PvArgs, o)]);
  if (direct_) mov(reg_pf, ptr[rdi + offsetof(PvArgs, prefetch)]);
  if (dot_ && direct_) vmovdqu16(Xbyak::Zmm(kInterleaveIdx), ptr[rip + interleave_label_]);
  const int chunk = vecs_ * lanes(), full = cols_ / chunk, rest = cols_ % chunk;
  if (full > 0) {
    Xbyak::Label col_loop;
    mov(reg_col, full);
    L(col_loop);
    column_chunk(vecs_, 0);
    add(reg_oc, chunk * 4);
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
  if (dot_ && direct_) {  // word 2i: column i of the first row (table 1), 2i + 1: of the second (table 2)
    align(64);
    L(interleave_label_);
    for (int i = 0; i < 32; ++i) dw(i % 2 ? 32 + i / 2 : i / 2);
  }
}

void PvKernel::column_chunk(int nvec, int tail_lanes) {
  mov(reg_pr, ptr[rdi + offsetof(PvArgs, p)]);
  mov(reg_ar, ptr[rdi + offsetof(PvArgs, alpha)]);
  mov(reg_left, ptr[rdi + offsetof(PvArgs, rows)]);
  mov(reg_or, reg_oc);
  emit_row_loop(*this, reg_left, rows_micro_, [&](int mr) { microtile(mr, nvec, tail_lanes); },
                [&](int mr) {
                  add(reg_pr, mr * kRowBytes);
                  add(reg_or, mr * o_row_ * 4);
                  add(reg_ar, mr * 4);
                });
}

// The step's V vectors (zmm nacc .. nacc + nvec - 1): the chunk of the V row at
// reg_vn (f32, converted, or a packed bf16-pair row); in place on the
// vdpbf16ps plan, the row at reg_vn paired with the next one (`second_row`)
// or with zeros.
void PvKernel::load_v(int nvec, int tail_lanes, bool second_row) {
  const int nacc = rows_micro_ * vecs_, lane_bytes = v_lane_bytes();
  for (int h = 0; h < nvec; ++h) {
    const Xmm v = vmm(nacc + h);
    const bool t = tail_lanes && h == nvec - 1;
    const Xbyak::Address at = ptr[reg_vn + h * lanes() * lane_bytes];
    if (!dot_) {
      load_f32(type_, v, at, t ? 1 : 0);
    } else if (!direct_) {
      vmovups(t ? (v | k1 | T_z) : v, at);
    } else if (!second_row) {  // (V[j][c], 0)
      vpmovzxwd(t ? (v | k1 | T_z) : v, at);
    } else {  // (V[j][c], V[j + 1][c]): 16 bf16 of each row, interleaved
      const Xbyak::Ymm lo(v.getIdx()), hi(kSecondRow + h);
      vmovdqu16(t ? (lo | k1 | T_z) : lo, at);
      vmovdqu16(t ? (hi | k1 | T_z) : hi, ptr[reg_tmp + h * lanes() * lane_bytes]);
      vpermt2w(Xbyak::Zmm(v.getIdx()), Xbyak::Zmm(kInterleaveIdx), Xbyak::Zmm(hi.getIdx()));
    }
  }
}

void PvKernel::microtile(int mr, int nvec, int tail_lanes) {
  // Registers: accumulators, then vecs_ V vectors, then two broadcasts.
  const int nacc = rows_micro_ * vecs_, o_row = o_row_ * 4;
  const int row_bytes = nvec * lanes() * v_lane_bytes();
  auto acc = [&](int r, int h) { return vmm(r * vecs_ + h); };
  for (int r = 0; r < mr; ++r) {
    const Xmm a = vmm(nacc + vecs_);
    vbroadcastss(a, ptr[reg_ar + r * 4]);
    for (int h = 0; h < nvec; ++h) vmulps(acc(r, h), a, ptr[reg_or + r * o_row + h * vbytes()]);
  }
  // The step's V row(s) times the broadcast P element (or bf16 pair).
  auto products = [&](int u) {
    for (int r = 0; r < mr; ++r) {
      const Xmm b = vmm(nacc + vecs_ + (r & 1));
      vbroadcastss(b, ptr[reg_pn + r * kRowBytes + u * 4]);
      for (int h = 0; h < nvec; ++h) {
        if (dot_) vdpbf16ps(acc(r, h), vmm(nacc + h), b);
        else vfmadd231ps(acc(r, h), vmm(nacc + h), b);
      }
    }
  };
  // The lines of the V row at `row` in the next block.
  auto prefetch = [&](const Xbyak::Reg64& row) {
    for (int b = 0; b < row_bytes; b += 64) prefetcht1(ptr[row + reg_pf + b]);
  };
  const bool pairs_in_place = dot_ && direct_;  // a step: two V rows of the tensor
  auto step = [&](int u) {
    if (pairs_in_place) lea(reg_tmp, ptr[reg_vn + reg_vstride]);
    load_v(nvec, tail_lanes, pairs_in_place);
    if (direct_) prefetch(reg_vn);
    if (pairs_in_place) prefetch(reg_tmp);
    pairs_in_place ? lea(reg_vn, ptr[reg_tmp + reg_vstride]) : add(reg_vn, reg_vstride);
    products(u);
  };
  mov(reg_pn, reg_pr);
  mov(reg_vn, reg_vc);
  mov(reg_cnt, ptr[rdi + offsetof(PvArgs, nsteps)]);
  if (pairs_in_place) shr(reg_cnt, 1);  // nsteps keys: whole pairs, then an odd last key
  emit_step_loop(*this, reg_cnt, kUnrollN, step, [&](int k) { add(reg_pn, k * 4); });
  if (pairs_in_place) {
    Xbyak::Label even;
    test(byte[rdi + offsetof(PvArgs, nsteps)], 1);
    jz(even, T_NEAR);
    load_v(nvec, tail_lanes, false);
    products(0);
    L(even);
  }
  for (int r = 0; r < mr; ++r)
    for (int h = 0; h < nvec; ++h) vmovups(ptr[reg_or + r * o_row + h * vbytes()], acc(r, h));
}

}  // namespace attngen::x86
