// templates/cuda/ptx.cuh for the host: each function as its inline PTX
// says, operand for operand, with the instruction done by the block
// emulator (emulator.hpp), which follows the PTX ISA's definition of it. The
// rendered ag_wgmma_qk / ag_wgmma_pv (codegen/cuda/render.cpp) are here too,
// for any shape: "p, 1, 1, 0, 0" (scale-d, scales 1, both K-major) and
// "p, 1, 1, 1" (A in registers, B MN-major).

constexpr agemu::Mma16 kAgEmuType = AG_DTYPE == AG_DTYPE_BF16 ? agemu::Mma16::bf16 : agemu::Mma16::f16;

// ---- arithmetic and element conversions
inline float ag_exp2(float x) { return agemu::ex2_approx_ftz(x); }                       // ex2.approx.ftz.f32
inline float ag_half_to_float(unsigned short u) { return agemu::half_to_float(u); }     // cvt.f32.f16
inline unsigned short ag_float_to_half(float f) { return agemu::float_to_half_rn(f); }  // cvt.rn.f16.f32
inline unsigned short ag_float_to_bf16(float f) { return agemu::float_to_bf16_rn(f); }  // cvt.rn.bf16.f32
// cvt.rn.{bf16,f16}x2.f32 d, a, b: a converted into the upper half of d, b into the lower.
inline unsigned ag_pack2(float lo, float hi) {
  const float a = hi, b = lo;  // the asm's operands %1, %2
#if AG_DTYPE == AG_DTYPE_BF16
  return unsigned(agemu::float_to_bf16_rn(a)) << 16 | agemu::float_to_bf16_rn(b);
#else
  return unsigned(agemu::float_to_half_rn(a)) << 16 | agemu::float_to_half_rn(b);
#endif
}

// ---- shared memory
inline unsigned ag_smem_u32(const void* ptr) { return agemu::shared_offset(ptr); }  // cvta.to.shared
inline void ag_cp_async16(void* smem, const void* gmem, bool valid) {
  agemu::cp_async16(ag_smem_u32(smem), gmem, valid ? 16 : 0);
}
inline void ag_cp_async_commit() { agemu::cp_async_commit(); }
inline void ag_cp_async_wait_committed() { agemu::cp_async_wait(0); }
inline void ag_ldmatrix_x4(unsigned (&r)[4], const void* smem) {
  agemu::ldmatrix_x4(reinterpret_cast<uint32_t(&)[4]>(r), ag_smem_u32(smem), false);
}
inline void ag_ldmatrix_x4_trans(unsigned (&r)[4], const void* smem) {
  agemu::ldmatrix_x4(reinterpret_cast<uint32_t(&)[4]>(r), ag_smem_u32(smem), true);
}

// ---- mma.sync: {d} = {a} {b0, b1} + {d}
inline void ag_mma(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
  const uint32_t b[2] = {b0, b1};
  const float c[4] = {d[0], d[1], d[2], d[3]};
  agemu::mma_m16n8k16(d, reinterpret_cast<const uint32_t(&)[4]>(a), b, c, kAgEmuType);
}

#if AG_WGMMA
inline void ag_wgmma_fence() { agemu::wgmma_fence(); }
inline void ag_wgmma_commit() { agemu::wgmma_commit(); }
template <int PENDING>
inline void ag_wgmma_wait() {
  agemu::wgmma_wait(PENDING);
}
// Register pinning is for the GPU compiler; the emulator's operands are memory.
template <int N>
inline void ag_pin(float (&)[N][4]) {}
template <int N>
inline void ag_pin(unsigned (&)[N][4]) {}
inline void ag_fence_proxy_async() {}  // fence.proxy.async: cp.async's results are already in place when waited for
// wgmma.mma_async m64n(8 NT)k16 {d}, a-desc, b-desc, p, 1, 1, 0, 0
template <int NT>
inline void ag_wgmma_qk(float (&d)[NT][4], unsigned long long a, unsigned long long b, int accumulate) {
  agemu::wgmma_m64nNk16(&d[0][0], 8 * NT, a, nullptr, b, accumulate != 0, 0, 0, kAgEmuType);
}
// wgmma.mma_async m64n(8 NT)k16 {d}, {a0..a3}, b-desc, p, 1, 1, 1 (p = 1)
template <int NT>
inline void ag_wgmma_pv(float (&d)[NT][4], const unsigned (&a)[4], unsigned long long b) {
  agemu::wgmma_m64nNk16(&d[0][0], 8 * NT, 0, reinterpret_cast<const uint32_t*>(a), b, true, 0, 1, kAgEmuType);
}

// ---- the warp-specialised kernel: mbarriers, named barriers, register reallocation
inline void ag_mbar_init(unsigned long long* bar, unsigned count) {  // mbarrier.init.shared::cta.b64 [bar], count
  agemu::mbarrier_init(ag_smem_u32(bar), count);
}
inline void ag_mbar_arrive(unsigned long long* bar) { agemu::mbarrier_arrive(ag_smem_u32(bar)); }  // mbarrier.arrive
inline void ag_cp_async_mbar_arrive(unsigned long long* bar) {  // cp.async.mbarrier.arrive.noinc
  agemu::cp_async_mbarrier_arrive_noinc(ag_smem_u32(bar));
}
inline void ag_mbar_wait(unsigned long long* bar, unsigned parity) {  // mbarrier.try_wait.parity until true
  agemu::mbarrier_wait_parity(ag_smem_u32(bar), parity);
}
inline void ag_named_sync(unsigned id, unsigned threads) { agemu::named_barrier(id, threads, true); }     // bar.sync
inline void ag_named_arrive(unsigned id, unsigned threads) { agemu::named_barrier(id, threads, false); }  // bar.arrive
template <int REGS>
inline void ag_setmaxnreg_dec() {
  agemu::setmaxnreg(REGS, false);
}
template <int REGS>
inline void ag_setmaxnreg_inc() {
  agemu::setmaxnreg(REGS, true);
}
#endif
