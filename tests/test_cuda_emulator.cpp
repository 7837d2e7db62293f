// The block emulator's own promises (tests/cuda_host/README.md), on small
// hand-written "kernels": collectives see every lane's operands; a barrier
// not every thread reaches, lanes at different collectives, shared memory
// outside the block's and work never waited for are errors that name the
// block and thread; what is in flight reads as NaN until waited for; a wgmma
// whose operands change in flight is an error. The rendered kernels' results
// are checked by the cuda_emulated tests (the backend sweep on the emulator).
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "tests/cuda_host/emulator.hpp"

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

}  // namespace
