// A CUDA block emulator for tests: runs a rendered attention kernel, compiled
// for the host (tests/cuda_host/device_host.hpp, ptx_host.hpp), with every
// thread of a block as a fiber on one OS thread, so that the kernel's own code
// (index logic, masks, online softmax, fragment layouts, the split-KV merge)
// is checked on a machine with no GPU. The warp-wide and warpgroup-wide PTX
// instructions (shuffles, votes, ldmatrix, mma.sync, wgmma) wait until every
// lane that takes part has reached them, as on the hardware, then compute
// what the PTX ISA defines for them; asynchronous work (cp.async, wgmma) is
// done when it is waited for, and what the hardware leaves undefined until
// then reads as NaN, so that a missing wait or barrier shows in the results.
// Barriers that not every thread reaches, lanes of a warp at different
// instructions and shared-memory accesses outside the block's are errors
// that end the launch (the fake driver's cuLaunchKernel returns them).
//
// Built as libattngen_cuda_emulator.so: the fake driver (tests/fake_cuda)
// launches through it, and each kernel compiled for the host links it.
#ifndef ATTNGEN_TESTS_CUDA_HOST_EMULATOR_HPP
#define ATTNGEN_TESTS_CUDA_HOST_EMULATOR_HPP

#include <cstddef>
#include <cstdint>
#include <string>

struct ag_dim3 {
  unsigned x, y, z;
};

namespace agemu {

// One CUDA thread's work: the kernel's entry point called with the launch's
// parameter array (cuLaunchKernel's kernelParams).
using ThreadBody = void (*)(void** params);

struct LaunchConfig {
  unsigned grid[3], block[3];
  unsigned shared_bytes;  // dynamic shared memory of a block
};

// Runs every block of the grid, one after the other, on the calling thread.
// `smem` is the kernel's shared-memory array (`capacity` bytes). Returns ""
// or what went wrong (the first error ends the launch).
std::string launch(ThreadBody body, const LaunchConfig& config, void** params, unsigned char* smem,
                   size_t capacity);

// What the launches since the last call did (then counted afresh).
// Shared-memory bank conflicts: each 8-row matrix an ldmatrix reads, and each
// quarter warp of a cp.async (8 threads' 16 bytes), is one phase; a phase
// whose 16-byte pieces share a bank (the same address / 16 mod 8, different
// addresses) takes one more wavefront per repeat. The kernels' layouts are
// meant to have none. And the warps' mma.sync instructions (m16n8k16).
struct LaunchStats {
  uint64_t ldmatrix_phases = 0, ldmatrix_extra = 0;
  uint64_t cp_async_phases = 0, cp_async_extra = 0;
  uint64_t mma_sync = 0;
};
LaunchStats take_launch_stats();

// ---- what the host build of a kernel calls (device_host.hpp, ptx_host.hpp)
ag_dim3 thread_idx();
ag_dim3 block_idx();
ag_dim3 grid_dim();
ag_dim3 block_dim();

void sync_threads();  // __syncthreads
void sync_warp();     // __syncwarp (full mask)
float shfl_xor(unsigned mask, float value, int lane_mask);
bool any(unsigned mask, bool predicate);

// Shared memory: the offset of a generic pointer into the block's shared
// memory (cvta.to.shared); an error when it points elsewhere.
unsigned shared_offset(const void* ptr);

// cp.async.cg.shared.global [smem], [gmem], 16, src_size (0 or 16: zero fill).
void cp_async16(unsigned smem_offset, const void* gmem, unsigned src_size);
void cp_async_commit();            // cp.async.commit_group
void cp_async_wait(int pending);   // cp.async.wait_group N

// ldmatrix.sync.aligned.m8n8.x4[.trans].shared.b16
void ldmatrix_x4(uint32_t (&r)[4], unsigned smem_offset, bool trans);

enum class Mma16 { f16, bf16 };
// mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}.{f16,bf16}.f32 d, a, b, c
void mma_m16n8k16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], const float (&c)[4], Mma16 type);

// wgmma.fence / commit_group / wait_group N (.sync.aligned)
void wgmma_fence();
void wgmma_commit();
void wgmma_wait(int pending);
// wgmma.mma_async.sync.aligned.m64nNk16.f32.T.T: D (N/2 accumulators a thread)
// = or += A B. A from shared memory (a_desc) when a_regs is null, else from
// the thread's 4 registers; B from shared memory. scale_d: 0 (D = A B) or 1;
// trans_a / trans_b: the immediate operands (1: MN-major in shared memory).
void wgmma_m64nNk16(float* d, int n, uint64_t a_desc, const uint32_t* a_regs, uint64_t b_desc, bool scale_d,
                    int trans_a, int trans_b, Mma16 type);

// mbarrier objects (PTX ISA, "mbarrier"): 8 bytes of shared memory at an
// 8-aligned offset, their state kept here. init: expected = pending = count
// (1 .. 2^20 - 1), phase 0. Each arrival takes one from pending; at zero the
// phase completes (the phase number goes up, pending = expected).
// cp_async_mbarrier_arrive_noinc is one arrival of the expected count, made
// once the thread's earlier cp.async copies have landed: here they land when
// the phase completes (or at an earlier wait_group), poison until then.
// mbarrier_wait_parity (try_wait.parity in a loop) waits until the phase of
// that parity has completed: while the current phase has that parity.
void mbarrier_init(unsigned smem_offset, unsigned count);
void mbarrier_arrive(unsigned smem_offset);
void cp_async_mbarrier_arrive_noinc(unsigned smem_offset);
void mbarrier_wait_parity(unsigned smem_offset, unsigned parity);
// bar.sync (sync) / bar.arrive id, threads: id 0 .. 15 (apart from
// __syncthreads' barrier), threads a multiple of 32; bar.sync waits until
// `threads` arrivals, bar.arrive arrives only. The barrier then resets.
void named_barrier(unsigned id, unsigned threads, bool sync);
// setmaxnreg.{inc,dec}.sync.aligned.u32 regs: checks the count (24 .. 256, a
// multiple of 8) and that the whole warpgroup executes it; nothing else.
void setmaxnreg(int regs, bool inc);

// Element conversions as PTX's cvt (round to nearest even) and ex2.approx.ftz.
float half_to_float(uint16_t h);
uint16_t float_to_half_rn(float f);
uint16_t float_to_bf16_rn(float f);
float ex2_approx_ftz(float x);

}  // namespace agemu

#endif
