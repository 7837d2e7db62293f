// What a rendered CUDA kernel needs of CUDA to compile for the host and run
// in the block emulator (emulator.hpp): the built-in variables, the warp
// intrinsics and the kernel's shared memory. The fake NVRTC puts this before
// the rendered source, ptx_host.hpp in place of its templates/cuda/ptx.cuh
// part, and entries_host.hpp after it (tests/fake_cuda/fake_nvrtc.cpp).
#ifndef ATTNGEN_TESTS_CUDA_HOST_DEVICE_HOST_HPP
#define ATTNGEN_TESTS_CUDA_HOST_DEVICE_HOST_HPP

#include <cmath>
#include <cstdint>
#include <cstring>

#include "tests/cuda_host/emulator.hpp"

#define __device__
#define __global__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __shared__
#define __align__(n)

#define threadIdx (agemu::thread_idx())
#define blockIdx (agemu::block_idx())
#define gridDim (agemu::grid_dim())
#define blockDim (agemu::block_dim())

inline float __int_as_float(int i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}
inline float __shfl_xor_sync(unsigned mask, float x, int lane_mask) { return agemu::shfl_xor(mask, x, lane_mask); }
inline bool __any_sync(unsigned mask, bool p) { return agemu::any(mask, p); }
inline void __syncthreads() { agemu::sync_threads(); }
inline void __syncwarp() { agemu::sync_warp(); }

// The kernel's `extern __shared__ unsigned char ag_smem[]`: as much as an
// sm_90 block may opt in to; the launch says how much of it is the block's.
constexpr size_t kAgEmuSharedCapacity = 232448;
alignas(128) unsigned char ag_smem[kAgEmuSharedCapacity];

#endif
