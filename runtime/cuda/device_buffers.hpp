// Host tensors mirrored on the device, for callers that hold host data (the
// CLI's run, verify and bench; tests): copy in, launch on device pointers,
// copy the outputs back.
#pragma once

#include <cstddef>
#include <vector>

#include "runtime/core/args.hpp"
#include "runtime/cuda/driver_library.hpp"

namespace attngen::cuda {

// cuMemAlloc'ed bytes, freed on destruction.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);  // throws Error naming the size on failure
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = 0, o.bytes_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&&) = delete;
  ~DeviceBuffer();
  CUdeviceptr ptr() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  void upload(const void* host, size_t bytes) const;
  void download(void* host, size_t bytes) const;

 private:
  CUdeviceptr ptr_ = 0;
  size_t bytes_ = 0;
};

// Every present tensor of host `args` copied to the device (the bytes its
// view spans, strides kept), outputs included so that what the kernel does
// not write keeps its host value (the poison of verify's outputs).
class DeviceArgs {
 public:
  explicit DeviceArgs(const AttentionArgs& host);
  DeviceArgs(const DeviceArgs&) = delete;  // mirrors point into host_
  DeviceArgs& operator=(const DeviceArgs&) = delete;
  // The same views on device pointers (memory = device).
  const AttentionArgs& args() const { return device_; }
  // Waits for the device, then copies o and lse into the host tensors.
  void download_outputs() const;

 private:
  struct Mirror {
    const TensorRef* host;
    size_t offset_bytes, bytes;  // the span of the view, from its lowest address
    DeviceBuffer buffer;
  };
  TensorRef mirror(const TensorRef& host);

  AttentionArgs host_, device_;
  std::vector<Mirror> mirrors_;
  size_t o_mirror_ = SIZE_MAX, lse_mirror_ = SIZE_MAX;
};

// Blocks until all work queued in the current context is done; throws Error
// with the driver's message for an earlier asynchronous failure.
void synchronize();

// Milliseconds between two points of a stream (cuEvent), for benchmarks.
class DeviceTimer {
 public:
  DeviceTimer();
  ~DeviceTimer();
  DeviceTimer(const DeviceTimer&) = delete;
  DeviceTimer& operator=(const DeviceTimer&) = delete;
  void start(CUstream stream = nullptr);
  double stop_ms(CUstream stream = nullptr);  // waits for the stop event

 private:
  CUevent start_ = nullptr, stop_ = nullptr;
};

}  // namespace attngen::cuda
