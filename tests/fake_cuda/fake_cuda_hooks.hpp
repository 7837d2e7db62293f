// For tests on the fake CUDA driver and NVRTC (fake_cuda.h): points attngen
// at them before anything loads a driver (a static initialiser, so the test
// binaries run the same under ctest and by hand), reaches the fake's test
// hooks, and sets FAKE_CUDA_* variables for one scope.
#pragma once

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "runtime/cuda/driver_library.hpp"  // the driver's types only
#include "tests/fake_cuda/fake_cuda.h"
#include "tests/scoped_env.hpp"

namespace attngen::testing {

inline const bool kFakeCudaSelected = [] {
  ::setenv("ATTNGEN_CUDA_DRIVER_LIBRARY", FAKE_CUDA_DRIVER_PATH, 1);
  ::setenv("ATTNGEN_NVRTC_LIBRARY", FAKE_NVRTC_PATH, 1);
  return true;
}();

// The fake driver's exported symbol `name`. dlopen of the same file gives
// the one copy attngen loads (or will load), so the state is shared.
template <class Fn>
Fn fake_cuda_symbol(const char* name) {
  static void* const handle = ::dlopen(FAKE_CUDA_DRIVER_PATH, RTLD_NOW | RTLD_LOCAL);  // kept for the process
  return handle ? reinterpret_cast<Fn>(::dlsym(handle, name)) : nullptr;
}

// The fake NVRTC's exported symbol `name`, the same way.
template <class Fn>
Fn fake_nvrtc_symbol(const char* name) {
  static void* const handle = ::dlopen(FAKE_NVRTC_PATH, RTLD_NOW | RTLD_LOCAL);  // kept for the process
  return handle ? reinterpret_cast<Fn>(::dlsym(handle, name)) : nullptr;
}

inline FakeCudaCounters fake_counters() {
  auto fn = fake_cuda_symbol<FakeCudaCounters (*)()>("fake_cuda_counters");
  EXPECT_TRUE(fn) << "the fake CUDA driver is not loaded";
  return fn ? fn() : FakeCudaCounters{};
}

// The last launch the fake driver recorded; fails the test when there is none.
inline FakeCudaLaunch fake_last_launch() {
  FakeCudaLaunch l{};
  auto fn = fake_cuda_symbol<int (*)(FakeCudaLaunch*)>("fake_cuda_last_launch");
  EXPECT_TRUE(fn && fn(&l)) << "no launch recorded";
  return l;
}

// The launch before the last; fails the test when there is none.
inline FakeCudaLaunch fake_launch_before_last() {
  FakeCudaLaunch l{};
  auto fn = fake_cuda_symbol<int (*)(FakeCudaLaunch*)>("fake_cuda_launch_before_last");
  EXPECT_TRUE(fn && fn(&l)) << "fewer than two launches recorded";
  return l;
}

// Device memory from the fake driver, as a CUDA runtime user would have it,
// with device 0's primary context current on this thread; freed with it.
// (The fake's device memory is host memory: tests fill and read it directly.)
class FakeDevice {
 public:
  FakeDevice() {
    using namespace attngen::cuda;
    CUcontext ctx = nullptr;
    EXPECT_EQ(fake_cuda_symbol<CUresult (*)(CUcontext*, CUdevice)>("cuDevicePrimaryCtxRetain")(&ctx, 0), 0);
    EXPECT_EQ(fake_cuda_symbol<CUresult (*)(CUcontext)>("cuCtxSetCurrent")(ctx), 0);
  }
  ~FakeDevice() {
    using namespace attngen::cuda;
    for (CUdeviceptr p : blocks_) fake_cuda_symbol<CUresult (*)(CUdeviceptr)>("cuMemFree_v2")(p);
  }
  FakeDevice(const FakeDevice&) = delete;
  FakeDevice& operator=(const FakeDevice&) = delete;
  void* alloc(size_t bytes) {
    using namespace attngen::cuda;
    CUdeviceptr p = 0;
    EXPECT_EQ(fake_cuda_symbol<CUresult (*)(CUdeviceptr*, size_t)>("cuMemAlloc_v2")(&p, bytes), 0);
    blocks_.push_back(p);
    return reinterpret_cast<void*>(p);
  }

 private:
  std::vector<attngen::cuda::CUdeviceptr> blocks_;
};


}  // namespace attngen::testing
