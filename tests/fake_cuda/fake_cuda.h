// Test-only fakes of the CUDA driver (libfake_cuda_driver.so) and NVRTC
// (libfake_nvrtc.so), loaded through ATTNGEN_CUDA_DRIVER_LIBRARY and
// ATTNGEN_NVRTC_LIBRARY, so that the cuda backend's host side (compile,
// module load, argument checks, launch, device buffers, events) runs and is
// checked on machines with no GPU and no CUDA toolkit. A launch is recorded
// (grid, block, shared memory, a copy of the AttnParams block) for the tests
// to read; "device memory" is host memory. Nothing is computed, unless
// FAKE_NVRTC_EMULATE=DIR: then the fake NVRTC also builds each kernel for the
// host into DIR, its cubin names the build ("emulator PATH" below), and the
// driver's launches run it in the block emulator (tests/cuda_host/README.md).
//
// The fake cubin NVRTC makes and the driver loads is NUL-terminated text:
//   "FAKECUBIN\narch sm_90a\nentry NAME\n...source-hash HEX\n[emulator PATH.so\n]"
//
// Environment, read at each call (tests may change it between calls):
//   FAKE_CUDA_DEVICES=N       devices (default 1; 0: cuInit fails with CUDA_ERROR_NO_DEVICE)
//   FAKE_CUDA_SM=90           compute capability of every device (default 90)
//   FAKE_CUDA_SMEM_OPTIN=B    bytes of shared memory a block may opt in to (default 232448)
//   FAKE_CUDA_GUARD_PAGES=1   allocations end at an inaccessible page (an emulated kernel
//                             reaching past a tensor's end faults and is named)
//   FAKE_CUDA_STATS=1         an emulated launch prints its shared-memory bank conflicts and mma.sync count
//   FAKE_CUDA_HOST_IS_DEVICE=1  every address is device memory to cuPointerGetAttribute (the
//                             emulator reads host memory): torch CPU tensors as device arrays
//   FAKE_CUDA_FAIL=cuX[:code],...  those entry points fail with `code` (default 999, CUDA_ERROR_UNKNOWN)
//   FAKE_NVRTC_FAIL=1         nvrtcCompileProgram fails with an error log
//   FAKE_NVRTC_FAIL=nvrtcX,...  those NVRTC calls fail (NVRTC_ERROR_INVALID_INPUT)
//   FAKE_NVRTC_DELAY_MS=N     a compile takes N ms
//   FAKE_NVRTC_RENDEZVOUS=N   a compile waits (10 s at most) until N compiles are in flight
//   FAKE_NVRTC_EMULATE=DIR    kernels are built for the host too and launches run them
//                             (NVRTC version 13.98 then, so cache keys differ)
#ifndef ATTNGEN_TESTS_FAKE_CUDA_H
#define ATTNGEN_TESTS_FAKE_CUDA_H

#include "templates/common/attention_params.h"

#define FAKE_CUBIN_MAGIC "FAKECUBIN\n"

// One cuLaunchKernel call as the fake driver saw it.
struct FakeCudaLaunch {
  char entry[128];  // the function's name
  char arch[16];    // its module's arch
  unsigned grid[3], block[3], shared_bytes;
  void* stream;
  struct AttnParams params;  // *(AttnParams*)kernelParams[0]
  // attngen's kernels take an AttnParams; the split-KV entries (named
  // *_split) also a float* workspace, the merges (*_merge) the workspace and
  // an int, the number of splits.
  unsigned long long workspace;  // *(CUdeviceptr*)kernelParams[1] of those, else 0
  int splits;                    // *(int*)kernelParams[2] of a merge, else 0
};

// Counters since the library was loaded.
struct FakeCudaCounters {
  long module_loads, module_unloads, launches;
  long live_allocations, allocations;  // cuMemAlloc'ed blocks not freed / ever
  long copies_to_device, copies_from_device;
  long synchronizations;
};

#ifdef __cplusplus
extern "C" {
#endif
// Test hooks exported by libfake_cuda_driver.so (looked up with dlsym).
// fake_cuda_last_launch: 0 when nothing was launched yet, else copies the last launch.
int fake_cuda_last_launch(struct FakeCudaLaunch* out);
// fake_cuda_launch_before_last: the same for the launch before the last.
int fake_cuda_launch_before_last(struct FakeCudaLaunch* out);
struct FakeCudaCounters fake_cuda_counters(void);
// Exported by libfake_nvrtc.so: the most compiles in flight at once since the
// last call (which starts counting again).
int fake_nvrtc_take_max_in_flight(void);
#ifdef __cplusplus
}
#endif

#endif
