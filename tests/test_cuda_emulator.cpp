// The block emulator's own promises (tests/cuda_host/README.md), on small
// hand-written "kernels": collectives see every lane's operands; a barrier
// not every thread reaches, lanes at different collectives, shared memory
// outside the block's and work never waited for are errors that name the
// block and thread; what is in flight reads as NaN until waited for; a wgmma
// whose operands change in flight is an error. The rendered kernels' results
// are checked by the cuda_emulated tests (the backend sweep on the emulator).
// The mbarriers, named barriers and setmaxnreg of the warp-specialised kernel
// follow the death test.
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "tests/cuda_host/emulator.hpp"

// The barriers' tests call templates/cuda/ptx.cuh's functions as a kernel
// does, through their host versions (shared memory: device_host.hpp's ag_smem).
#define AG_DTYPE_F16 1
#define AG_DTYPE_BF16 2
#define AG_DTYPE AG_DTYPE_F16
#define AG_WGMMA 1
#include "tests/cuda_host/device_host.hpp"
#include "tests/cuda_host/ptx_host.hpp"

namespace {

alignas(128) unsigned char smem[65536];

std::string run(agemu::ThreadBody body, unsigned threads, unsigned blocks = 1, unsigned shared = 4096,
                void** params = nullptr) {
  return agemu::launch(body, agemu::LaunchConfig{{blocks, 1, 1}, {threads, 1, 1}, shared}, params, smem, sizeof smem);
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

float out[1024];

TEST(CudaEmulator, ShuffleAndVoteSeeEveryLane) {
  const std::string e = run(
      [](void**) {
        const unsigned t = agemu::thread_idx().x;
        out[t] = agemu::shfl_xor(0xffffffffu, float(t), 5);
        if (agemu::any(0xffffffffu, t == 37)) out[512 + t] = 1.f;
      },
      64);
  ASSERT_EQ(e, "");
  for (unsigned t = 0; t < 64; ++t) {
    EXPECT_EQ(out[t], float(t ^ 5)) << t;
    EXPECT_EQ(out[512 + t], t >= 32 ? 1.f : 0.f) << t;  // only the second warp holds lane 37 (thread 37)
  }
}

TEST(CudaEmulator, BarrierOrdersSharedMemory) {
  std::memset(out, 0, sizeof out);
  const std::string e = run(
      [](void**) {
        const unsigned t = agemu::thread_idx().x;
        float* s = reinterpret_cast<float*>(smem);
        s[t] = float(t);
        agemu::sync_threads();
        out[t] = s[(t + 100) % 128];  // written by a thread of another warp
      },
      128);
  ASSERT_EQ(e, "");
  for (unsigned t = 0; t < 128; ++t) EXPECT_EQ(out[t], float((t + 100) % 128));
}

TEST(CudaEmulator, ABarrierOneThreadSkipsIsADeadlock) {
  const std::string e = run(
      [](void**) {
        if (agemu::thread_idx().x != 3) agemu::sync_threads();
      },
      64, 2);
  EXPECT_TRUE(has(e, "block (0, 0, 0): deadlock: 1 threads ended, 63 threads wait at __syncthreads")) << e;
}

TEST(CudaEmulator, LanesAtDifferentCollectivesAreAnError) {
  const std::string e = run(
      [](void**) {
        if (agemu::thread_idx().x == 0) agemu::sync_warp();
        else agemu::shfl_xor(0xffffffffu, 1.f, 1);
      },
      32);
  EXPECT_TRUE(has(e, "while other threads of its group wait at")) << e;
}

TEST(CudaEmulator, CopiesReadAsNaNUntilWaitedForAndMustBeWaitedFor) {
  static float src[4] = {1, 2, 3, 4};
  std::memset(out, 0, sizeof out);
  std::string e = run(
      [](void**) {
        if (agemu::thread_idx().x != 0) return;
        agemu::cp_async16(0, src, 16);
        agemu::cp_async_commit();
        out[0] = reinterpret_cast<float*>(smem)[1];  // before the wait: undefined
        agemu::cp_async_wait(0);
        out[1] = reinterpret_cast<float*>(smem)[1];
        agemu::cp_async16(16, src, 0);  // zero fill
        agemu::cp_async_commit();
        agemu::cp_async_wait(0);
        out[2] = reinterpret_cast<float*>(smem)[5];
      },
      32);
  ASSERT_EQ(e, "");
  EXPECT_TRUE(std::isnan(out[0]));
  EXPECT_EQ(out[1], 2.f);
  EXPECT_EQ(out[2], 0.f);
  e = run(
      [](void**) {
        if (agemu::thread_idx().x == 0) agemu::cp_async16(0, src, 16), agemu::cp_async_commit();
      },
      32);
  EXPECT_TRUE(has(e, "thread 0 ended with cp.async copies it never waited for")) << e;
}

TEST(CudaEmulator, SharedMemoryOutsideTheBlocksIsAnError) {
  std::string e = run([](void**) { agemu::cp_async16(4096, smem, 16); }, 32);
  EXPECT_TRUE(has(e, "block (0, 0, 0) thread 0: cp.async at shared offset 4096")) << e;
  e = run(
      [](void**) {
        uint32_t r[4];
        agemu::ldmatrix_x4(r, agemu::thread_idx().x == 9 ? 8 : 0, false);  // misaligned row
      },
      32);
  EXPECT_TRUE(has(e, "ldmatrix.x4 at shared offset 8")) << e;
}

// ldmatrix and mma.sync together: A (16 x 16) and B^T (8 x 16) rows in shared
// memory, fragments loaded as the mma.sync kernel does, D compared with A B.
TEST(CudaEmulator, LdmatrixFragmentsFeedMmaSyncAsTheIsaLaysThemOut) {
  const std::string e = run(
      [](void**) {
        const unsigned lane = agemu::thread_idx().x;
        uint16_t* a = reinterpret_cast<uint16_t*>(smem);  // A[m][k], rows of 16 (32 bytes)
        uint16_t* bt = a + 16 * 16;                        // B^T[n][k]
        if (lane == 0)
          for (int i = 0; i < 16; ++i)
            for (int k = 0; k < 16; ++k) {
              a[i * 16 + k] = agemu::float_to_bf16_rn(float((i * 7 + k * 3) % 11) - 5.f);
              if (i < 8) bt[i * 16 + k] = agemu::float_to_bf16_rn(float((i * 5 + k) % 7) - 3.f);
            }
        agemu::sync_warp();
        uint32_t af[4], bf[4];
        // A: matrices (rows 0-7, k 0-7), (8-15, 0-7), (0-7, 8-15), (8-15, 8-15).
        agemu::ldmatrix_x4(af, ((lane >> 3 & 1) * 8 + (lane & 7)) * 32 + (lane >> 4) * 16, false);
        // B: (n 0-7, k 0-7), (n 0-7, k 8-15); the last two repeat them.
        agemu::ldmatrix_x4(bf, 512 + (lane & 7) * 32 + (lane >> 3 & 1) * 16, false);
        float d[4];
        const float c[4] = {0.5f, 0.5f, 0.5f, 0.5f};
        const uint32_t b[2] = {bf[0], bf[1]};
        agemu::mma_m16n8k16(d, af, b, c, agemu::Mma16::bf16);
        const unsigned g = lane / 4, t = lane % 4;
        for (int r = 0; r < 4; ++r) out[(g + (r >> 1) * 8) * 8 + 2 * t + (r & 1)] = d[r];
      },
      32);
  ASSERT_EQ(e, "");
  for (int i = 0; i < 16; ++i)
    for (int n = 0; n < 8; ++n) {
      float want = 0.5f;
      for (int k = 0; k < 16; ++k) want += (float((i * 7 + k * 3) % 11) - 5.f) * (float((n * 5 + k) % 7) - 3.f);
      EXPECT_EQ(out[i * 8 + n], want) << i << " " << n;
    }
}

// wgmma: A and B K-major in shared memory as core matrices (8 rows x 16
// bytes each, the K pair 128 bytes apart, row groups 256 bytes apart).
uint64_t desc(unsigned offset, unsigned lead, unsigned stride) {
  return uint64_t(offset >> 4) | uint64_t(lead >> 4) << 16 | uint64_t(stride >> 4) << 32;
}
void fill_core_matrices(unsigned offset, int rows, float (*value)(int, int)) {
  uint16_t* s = reinterpret_cast<uint16_t*>(smem + offset);
  for (int r = 0; r < rows; ++r)
    for (int k = 0; k < 16; ++k) s[(r / 8) * 128 + (k / 8) * 64 + (r % 8) * 8 + k % 8] = agemu::float_to_half_rn(value(r, k));
}
float a_value(int m, int k) { return float((m + 2 * k) % 5) - 2.f; }
float b_value(int n, int k) { return float((3 * n + k) % 4) - 1.f; }

float wg_d[128][4];  // n = 8: 4 accumulators a thread
float wg_seen_in_flight[128];

TEST(CudaEmulator, WgmmaIsDoneAtItsWaitAndItsAccumulatorsAreUndefinedBefore) {
  const std::string e = run(
      [](void**) {
        const unsigned t = agemu::thread_idx().x;
        if (t == 0) fill_core_matrices(0, 64, a_value), fill_core_matrices(2048, 8, b_value);
        agemu::sync_threads();
        agemu::wgmma_fence();
        agemu::wgmma_m64nNk16(wg_d[t], 8, desc(0, 128, 256), nullptr, desc(2048, 128, 256), false, 0, 0,
                              agemu::Mma16::f16);
        agemu::wgmma_commit();
        wg_seen_in_flight[t] = wg_d[t][0];
        agemu::wgmma_wait(0);
      },
      128, 1, 4096);
  ASSERT_EQ(e, "");
  for (unsigned t = 0; t < 128; ++t) {
    EXPECT_TRUE(std::isnan(wg_seen_in_flight[t]));
    const unsigned w = t / 32, g = t % 32 / 4, q = t % 4;
    for (int i = 0; i < 4; ++i) {
      const int m = int(16 * w + g + 8 * (i / 2)), n = int(2 * q) + i % 2;
      float want = 0;
      for (int k = 0; k < 16; ++k) want += a_value(m, k) * b_value(n, k);
      EXPECT_EQ(wg_d[t][i], want) << t << " " << i;
    }
  }
}

TEST(CudaEmulator, AWgmmaOperandWrittenInFlightIsAnError) {
  const std::string e = run(
      [](void**) {
        const unsigned t = agemu::thread_idx().x;
        agemu::sync_threads();
        agemu::wgmma_fence();
        agemu::wgmma_m64nNk16(wg_d[t], 8, desc(0, 128, 256), nullptr, desc(2048, 128, 256), false, 0, 0,
                              agemu::Mma16::f16);
        agemu::wgmma_commit();
        if (t == 5) smem[2048 + 64] ^= 1;  // B, before the wait
        agemu::wgmma_wait(0);
      },
      128, 1, 4096);
  EXPECT_TRUE(has(e, "shared memory of operand B changed while the wgmma was in flight")) << e;
}

TEST(CudaEmulator, AWgmmaWithoutAFenceSinceTheLastWaitIsAnError) {
  const std::string e = run(
      [](void**) {
        const unsigned t = agemu::thread_idx().x;
        agemu::wgmma_fence();
        agemu::wgmma_m64nNk16(wg_d[t], 8, desc(0, 128, 256), nullptr, desc(2048, 128, 256), false, 0, 0,
                              agemu::Mma16::f16);
        agemu::wgmma_commit();
        agemu::wgmma_wait(0);
        agemu::wgmma_m64nNk16(wg_d[t], 8, desc(0, 128, 256), nullptr, desc(2048, 128, 256), true, 0, 0,
                              agemu::Mma16::f16);
        agemu::wgmma_commit();
        agemu::wgmma_wait(0);
      },
      128, 1, 4096);
  EXPECT_TRUE(has(e, "wgmma.mma_async without a wgmma.fence since the block began or the last wgmma.wait_group"))
      << e;
}

// A read past the end of memory that ends at a guard page (as the fake
// driver's allocations do under FAKE_CUDA_GUARD_PAGES=1) ends the process with
// the block and thread named.
unsigned char* guarded_end;
TEST(CudaEmulatorDeathTest, AReadPastAnAllocationNamesTheBlockAndThread) {
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  auto* m = static_cast<unsigned char*>(mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(m, MAP_FAILED);
  mprotect(m + page, page, PROT_NONE);
  guarded_end = m + page;
  EXPECT_DEATH(run(
                   [](void**) {
                     const unsigned t = agemu::thread_idx().x;
                     out[t] = float(guarded_end[int(t) - 40]);  // threads 40 .. 63 read past the end
                   },
                   64, 2),
               "CUDA emulator: block \\(0, 0, 0\\) thread 40 touched 0x[0-9a-f]+, which no allocation holds");
  munmap(m, 2 * page);
}

// ---- mbarriers, named barriers, setmaxnreg (barriers.cpp)
std::string run_ag(agemu::ThreadBody body, unsigned threads, unsigned blocks = 1) {
  return agemu::launch(body, agemu::LaunchConfig{{blocks, 1, 1}, {threads, 1, 1}, 4096}, nullptr, ag_smem,
                       sizeof ag_smem);
}
unsigned long long* mbar(int i) { return reinterpret_cast<unsigned long long*>(ag_smem) + i; }
float* staged(int i) { return reinterpret_cast<float*>(ag_smem + 256) + i; }

constexpr int kRounds = 6;
alignas(16) float stream[kRounds][128];  // what the producer copies in, round by round
float consumed[2][kRounds][128];         // by block

// The warp-specialised pipeline in small: warp 2 copies each round's 512
// bytes into one of two stages and arrives on its "full" barrier with
// cp.async.mbarrier.arrive.noinc (count: the 32 producers); warps 0 and 1
// wait on it, read, and release the stage's "empty" barrier (count: their 2
// lane 0s), which the producer waits on, from parity 1 (passes at once).
void producer_consumer(void**) {
  const unsigned t = threadIdx.x, warp = t / 32, lane = t % 32;
  if (t == 0)
    for (int s = 0; s < 2; ++s) ag_mbar_init(mbar(s), 32), ag_mbar_init(mbar(2 + s), 2);
  __syncthreads();
  for (int r = 0; r < kRounds; ++r) {
    const int s = r % 2;
    const unsigned parity = unsigned(r / 2) & 1;
    if (warp == 2) {
      ag_mbar_wait(mbar(2 + s), parity ^ 1);
      ag_cp_async16(staged(128 * s + 4 * int(lane)), &stream[r][4 * lane], true);
      ag_cp_async_mbar_arrive(mbar(s));
    } else {
      ag_mbar_wait(mbar(s), parity);
      for (unsigned i = 2 * t; i < 2 * t + 2; ++i) consumed[blockIdx.x][r][i] = *staged(128 * s + int(i));
      __syncwarp();  // the warp's reads before its release
      if (lane == 0) ag_mbar_arrive(mbar(2 + s));
    }
  }
}

TEST(CudaEmulator, CpAsyncThroughMbarriersFeedsConsumersRoundByRound) {
  for (int r = 0; r < kRounds; ++r)
    for (int i = 0; i < 128; ++i) stream[r][i] = float(1000 * r + i);
  agemu::take_launch_stats();
  const std::string e = run_ag(producer_consumer, 96, 2);  // two blocks: both scheduling orders
  ASSERT_EQ(e, "");
  for (int b = 0; b < 2; ++b)
    for (int r = 0; r < kRounds; ++r)
      for (int i = 0; i < 128; ++i) EXPECT_EQ(consumed[b][r][i], stream[r][i]) << b << " " << r << " " << i;
  const agemu::LaunchStats stats = agemu::take_launch_stats();  // each arrive ends a warp's batch of copies
  EXPECT_EQ(stats.cp_async_phases, 2u * kRounds * 4);
  EXPECT_EQ(stats.cp_async_extra, 0u);
}

float before_phase[32], after_phase[64], landed_once[4];

TEST(CudaEmulator, CopiesHandedToAnMbarrierReadAsNaNUntilItsPhaseCompletesAndLandOnce) {
  const std::string e = run_ag(
      [](void**) {
        const unsigned t = threadIdx.x, lane = t % 32;
        if (t == 0)
          for (const auto& [i, count] : {std::pair<int, unsigned>{0, 33}, {1, 2}, {2, 1}, {3, 2}})
            ag_mbar_init(mbar(i), count);
        __syncthreads();
        if (t >= 32) ag_cp_async16(staged(4 * int(lane)), &stream[0][4 * lane], true), ag_cp_async_mbar_arrive(mbar(0));
        __syncthreads();
        if (t < 32) before_phase[t] = *staged(4 * int(t) + 1);  // the producers have arrived, not thread 0
        __syncthreads();
        if (t == 0) ag_mbar_arrive(mbar(0));  // the 33rd arrival: the copies land
        ag_mbar_wait(mbar(0), 0);
        after_phase[t] = *staged(4 * int(lane) + 1);
        if (t == 32) {  // landed by a wait_group, then overwritten: the phase must not land it again
          ag_cp_async16(staged(128), stream[1], true), ag_cp_async_commit(), ag_cp_async_mbar_arrive(mbar(1));
          ag_cp_async_wait_committed();
          *staged(128) = 42.f;
          ag_mbar_arrive(mbar(1));
          // landed by the phase (count 1), then overwritten: the wait_group must not land it again
          ag_cp_async16(staged(132), stream[1], true), ag_cp_async_commit(), ag_cp_async_mbar_arrive(mbar(2));
          *staged(132) = 43.f;
          ag_cp_async_wait_committed();
          // the first of a group's two copies landed by the phase, the group by the wait_group
          ag_cp_async16(staged(136), stream[1], true), ag_cp_async_mbar_arrive(mbar(3));
          ag_cp_async16(staged(140), stream[1], true), ag_cp_async_commit();
          ag_mbar_arrive(mbar(3));
          *staged(136) = 44.f;
          ag_cp_async_wait_committed();
          landed_once[0] = *staged(128), landed_once[1] = *staged(132), landed_once[2] = *staged(136);
          landed_once[3] = *staged(140);
        }
      },
      64);
  ASSERT_EQ(e, "");
  for (unsigned t = 0; t < 32; ++t) EXPECT_TRUE(std::isnan(before_phase[t])) << t;
  for (unsigned t = 0; t < 64; ++t) EXPECT_EQ(after_phase[t], stream[0][4 * (t % 32) + 1]) << t;
  EXPECT_EQ(landed_once[0], 42.f);
  EXPECT_EQ(landed_once[1], 43.f);
  EXPECT_EQ(landed_once[2], 44.f);
  EXPECT_EQ(landed_once[3], stream[1][0]);
}

TEST(CudaEmulator, CopiesHandedToAPhaseThatNeverCompletesAreAnError) {
  const std::string e = run_ag(
      [](void**) {
        if (threadIdx.x == 0) ag_mbar_init(mbar(1), 2);
        __syncthreads();
        if (threadIdx.x == 32) ag_cp_async16(staged(0), stream[0], true), ag_cp_async_mbar_arrive(mbar(1));
      },
      64);
  EXPECT_TRUE(has(e, "block (0, 0, 0): thread 32 ended with cp.async copies handed to the mbarrier at shared "
                     "offset 8 (cp.async.mbarrier.arrive.noinc), whose phase never completed"))
      << e;
}

TEST(CudaEmulator, AnMbarrierWaitThatCannotCompleteIsADeadlockNamingIt) {
  const std::string e = run_ag(
      [](void**) {
        if (threadIdx.x == 0) ag_mbar_init(mbar(1), 2);
        __syncthreads();
        if (threadIdx.x == 0) ag_mbar_arrive(mbar(1));  // one of two arrivals
        ag_mbar_wait(mbar(1), 0);
      },
      64);
  EXPECT_TRUE(has(e, "block (0, 0, 0): deadlock: 64 threads wait at mbarrier.try_wait.parity at shared offset 8, "
                     "parity 0"))
      << e;
}

TEST(CudaEmulator, UninitialisedOrMisplacedMbarriersAreErrors) {
  std::string e = run_ag([](void**) { ag_mbar_arrive(mbar(2)); }, 32);
  EXPECT_TRUE(has(e, "block (0, 0, 0) thread 0: mbarrier.arrive at shared offset 16: no mbarrier.init")) << e;
  e = run_ag([](void**) { ag_mbar_wait(mbar(2), 1); }, 32);
  EXPECT_TRUE(has(e, "mbarrier.try_wait.parity at shared offset 16: no mbarrier.init")) << e;
  e = run_ag([](void**) { ag_mbar_init(reinterpret_cast<unsigned long long*>(ag_smem + 12), 1); }, 32);
  EXPECT_TRUE(has(e, "mbarrier.init at shared offset 12 (8 bytes, alignment 8) outside the block's 4096 bytes of "
                     "shared memory or misaligned"))
      << e;
  e = run_ag([](void**) { ag_mbar_init(mbar(512), 1); }, 32);  // offset 4096, past the block's
  EXPECT_TRUE(has(e, "mbarrier.init at shared offset 4096")) << e;
  e = run_ag([](void**) { ag_mbar_init(mbar(0), 0); }, 32);
  EXPECT_TRUE(has(e, "mbarrier.init at shared offset 0: count 0 outside 1 .. 2^20 - 1")) << e;
  e = run_ag([](void**) { ag_mbar_init(mbar(0), 1), ag_mbar_wait(mbar(0), 2); }, 32);
  EXPECT_TRUE(has(e, "parity 2 (a phase parity is 0 or 1)")) << e;
  e = run_ag([](void**) { ag_mbar_init(mbar(0), 1), ag_cp_async16(mbar(0), stream[0], true); }, 32);
  EXPECT_TRUE(has(e, "cp.async onto the mbarrier at shared offset 0")) << e;
}

float named_seen[3][128];

TEST(CudaEmulator, NamedBarriersOrderASubsetOfWarps) {
  const std::string e = run_ag(
      [](void**) {
        const unsigned t = threadIdx.x, warp = t / 32;
        if (warp == 1 || warp == 2) {  // barrier 1 between warps 1 and 2, round after round
          for (int r = 0; r < 3; ++r) {
            *staged(int(t)) = float(100 * r + int(t));
            ag_named_sync(1, 64);
            named_seen[r][t] = *staged(int(t < 64 ? t + 32 : t - 32));
            ag_named_sync(1, 64);
          }
        } else if (warp == 3) {  // barrier 2: warp 3 produces (bar.arrive), warp 0 consumes (bar.sync)
          *staged(int(t)) = float(t);
          ag_named_arrive(2, 64);
        } else {
          ag_named_sync(2, 64);
          named_seen[0][t] = *staged(int(t) + 96);
        }
      },
      128, 2);
  ASSERT_EQ(e, "");
  for (int r = 0; r < 3; ++r)
    for (unsigned t = 32; t < 96; ++t) EXPECT_EQ(named_seen[r][t], float(100 * r + int(t < 64 ? t + 32 : t - 32)));
  for (unsigned t = 0; t < 32; ++t) EXPECT_EQ(named_seen[0][t], float(t + 96));
}

TEST(CudaEmulator, NamedBarrierMisuseIsAnErrorOrADeadlock) {
  std::string e = run_ag(
      [](void**) {
        if (threadIdx.x < 96) ag_named_sync(3, 128);  // warp 3 never comes
      },
      128);
  EXPECT_TRUE(has(e, "deadlock: 32 threads ended, 96 threads wait at bar.sync 3, 128")) << e;
  e = run_ag([](void**) { ag_named_sync(1, 48); }, 64);
  EXPECT_TRUE(has(e, "bar.sync 1, 48: the thread count must be a multiple of 32 and at most the block's 64")) << e;
  e = run_ag([](void**) { ag_named_arrive(1, 96); }, 64);
  EXPECT_TRUE(has(e, "bar.arrive 1, 96: the thread count")) << e;
  e = run_ag([](void**) { ag_named_sync(16, 64); }, 64);
  EXPECT_TRUE(has(e, "bar.sync 16, 64: barrier ids are 0 .. 15")) << e;
  e = run_ag([](void**) { ag_named_sync(1, threadIdx.x < 32 ? 64 : 128); }, 128);
  EXPECT_TRUE(has(e, "threads already arrived at barrier 1 name 64")) << e;
  e = run_ag(
      [](void**) {
        if (threadIdx.x % 32 < 16) ag_named_sync(1, 32);  // half of each of two warps
      },
      64);
  EXPECT_TRUE(has(e, "bar.sync 1, 32: the barrier completed with 16 threads of warp 0")) << e;
}

TEST(CudaEmulator, SetmaxnregChecksItsCountAndThatTheWarpgroupExecutesIt) {
  std::string e = run_ag(
      [](void**) {
        if (threadIdx.x < 128) ag_setmaxnreg_dec<40>();
        else ag_setmaxnreg_inc<232>();
      },
      256);
  EXPECT_EQ(e, "");
  e = run_ag([](void**) { ag_setmaxnreg_inc<20>(); }, 128);
  EXPECT_TRUE(has(e, "setmaxnreg.inc 20: the count must be 24 .. 256 and a multiple of 8")) << e;
  e = run_ag([](void**) { ag_setmaxnreg_dec<100>(); }, 128);
  EXPECT_TRUE(has(e, "setmaxnreg.dec 100: the count")) << e;
  e = run_ag(
      [](void**) {
        if (threadIdx.x >= 32) ag_setmaxnreg_dec<40>();
      },
      128);
  EXPECT_TRUE(has(e, "deadlock: 32 threads ended, 96 threads wait at setmaxnreg.dec")) << e;
  e = run_ag([](void**) { agemu::setmaxnreg(threadIdx.x < 64 ? 40 : 48, false); }, 128);
  EXPECT_TRUE(has(e, "setmaxnreg.dec: the threads of a warpgroup disagree on the count")) << e;
}

}  // namespace
