// Every inline PTX statement of the CUDA kernels, and nothing else: the
// one place where a kernel names the hardware's instructions. Each function
// is one instruction (or a fixed group of them) behind a C++ signature; the
// rendered wgmma MMAs for the spec's shapes follow this file in the source
// (codegen/cuda/render.cpp).
//
// Tests run the kernels on the host by replacing this part of the rendered
// source with tests/cuda_host/ptx_host.hpp, which implements each function
// from the PTX ISA's definition of its instruction (tests/cuda_host/
// README.md). A PTX statement anywhere else would not run there: keep them here.

// ---- arithmetic and element conversions (no cuda_fp16.h / cuda_bf16.h: NVRTC needs no headers)
__device__ __forceinline__ float ag_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}
__device__ __forceinline__ float ag_half_to_float(unsigned short u) {
  float f;
  asm("{ .reg .f16 h; mov.b16 h, %1; cvt.f32.f16 %0, h; }" : "=f"(f) : "h"(u));
  return f;
}
__device__ __forceinline__ unsigned short ag_float_to_half(float f) {
  unsigned short u;
  asm("{ .reg .f16 h; cvt.rn.f16.f32 h, %1; mov.b16 %0, h; }" : "=h"(u) : "f"(f));
  return u;
}
__device__ __forceinline__ unsigned short ag_float_to_bf16(float f) {
  unsigned short u;
  asm("{ .reg .b16 h; cvt.rn.bf16.f32 h, %1; mov.b16 %0, h; }" : "=h"(u) : "f"(f));
  return u;
}
// Two floats as one register of two 16-bit values (lo in the low half).
__device__ __forceinline__ unsigned ag_pack2(float lo, float hi) {
  unsigned r;
#if AG_DTYPE == AG_DTYPE_BF16
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
#else
  asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
#endif
  return r;
}

// ---- shared memory: addresses, asynchronous copies (cp.async), fragment loads (ldmatrix)
__device__ __forceinline__ unsigned ag_smem_u32(const void* ptr) {
  unsigned r;
  asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(r) : "l"(ptr));
  return r;
}
__device__ __forceinline__ void ag_cp_async16(void* smem, const void* gmem, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(ag_smem_u32(smem)), "l"(gmem),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void ag_cp_async_commit() { asm volatile("cp.async.commit_group;"); }
// This thread's committed groups (not PTX's cp.async.wait_all, which commits
// first; copies handed to an mbarrier are in no group).
__device__ __forceinline__ void ag_cp_async_wait_committed() { asm volatile("cp.async.wait_group 0;" ::: "memory"); }

__device__ __forceinline__ void ag_ldmatrix_x4(unsigned (&r)[4], const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(ag_smem_u32(smem)));
}
__device__ __forceinline__ void ag_ldmatrix_x4_trans(unsigned (&r)[4], const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(ag_smem_u32(smem)));
}

// ---- tensor cores: mma.sync (sm_80 and newer)
// d += a * b, m16n8k16, f32 accumulation.
__device__ __forceinline__ void ag_mma(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
#if AG_DTYPE == AG_DTYPE_BF16
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
               "{%0, %1, %2, %3};"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
               "{%0, %1, %2, %3};"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

#if AG_WGMMA
// ---- tensor cores: warpgroup MMA (sm_90a); ag_wgmma_qk and ag_wgmma_pv are rendered after this file
__device__ __forceinline__ void ag_wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void ag_wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
template <int PENDING>  // wait until at most PENDING of the latest groups run (the older ones are done)
__device__ __forceinline__ void ag_wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(PENDING) : "memory");
}
// Accumulators are written by the tensor cores behind the compiler's back:
// pin every read and write of them between the issue and the wait.
// The A operand (P in registers) is read behind its back too: pinned after
// the wait, its registers cannot be reused before it.
template <int N>
__device__ __forceinline__ void ag_pin(float (&d)[N][4]) {
#pragma unroll
  for (int n = 0; n < N; ++n)
#pragma unroll
    for (int x = 0; x < 4; ++x) asm volatile("" : "+f"(d[n][x])::"memory");
}
template <int N>
__device__ __forceinline__ void ag_pin(unsigned (&a)[N][4]) {
#pragma unroll
  for (int n = 0; n < N; ++n)
#pragma unroll
    for (int x = 0; x < 4; ++x) asm volatile("" : "+r"(a[n][x])::"memory");
}
// Shared memory written by this thread's copies and stores, made visible to
// the tensor cores (the async proxy) once the barrier after it is passed.
__device__ __forceinline__ void ag_fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;" ::: "memory"); }

// ---- the warp-specialised kernel (sm_90a): barriers in shared memory, register reallocation
// An mbarrier is a 64-bit object in shared memory that counts arrivals; when
// the expected number of a phase has arrived, the phase completes and the
// next begins (its parity flips). Initialised by one thread, then a barrier.
__device__ __forceinline__ void ag_mbar_init(unsigned long long* bar, unsigned count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(ag_smem_u32(bar)), "r"(count) : "memory");
}
// One arrival of the calling thread (release: its earlier writes are seen by
// a thread whose wait returns for this phase).
__device__ __forceinline__ void ag_mbar_arrive(unsigned long long* bar) {
  asm volatile("{ .reg .b64 state; mbarrier.arrive.shared::cta.b64 state, [%0]; }" ::"r"(ag_smem_u32(bar))
               : "memory");
}
// One arrival of the calling thread, made once every cp.async it issued so far
// has landed; .noinc: the arrival is one of the phase's expected count.
__device__ __forceinline__ void ag_cp_async_mbar_arrive(unsigned long long* bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];" ::"r"(ag_smem_u32(bar)) : "memory");
}
// Waits until the phase of this parity has completed (acquire). A barrier
// starts in phase 0: waiting for parity 1 returns at once (the phase before).
__device__ __forceinline__ void ag_mbar_wait(unsigned long long* bar, unsigned parity) {
  asm volatile(
      "{ .reg .pred done;\n"
      "ag_mbar_wait_again:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra ag_mbar_wait_again;\n"
      "}" ::"r"(ag_smem_u32(bar)),
      "r"(parity)
      : "memory");
}
// Named barrier ID (1-15; 0 is __syncthreads) for THREADS threads, a multiple of 32.
__device__ __forceinline__ void ag_named_sync(unsigned id, unsigned threads) {
  asm volatile("bar.sync %0, %1;" ::"r"(id), "r"(threads) : "memory");
}
__device__ __forceinline__ void ag_named_arrive(unsigned id, unsigned threads) {
  asm volatile("bar.arrive %0, %1;" ::"r"(id), "r"(threads) : "memory");
}
// The warpgroup's registers per thread from here on (24-256, a multiple of
// 8): the producer gives registers back, the consumers take them.
template <int REGS>
__device__ __forceinline__ void ag_setmaxnreg_dec() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(REGS));
}
template <int REGS>
__device__ __forceinline__ void ag_setmaxnreg_inc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(REGS));
}
#endif
