// Calls of a kernel on host tensors, whatever memory the kernel reads (the
// CLI's run, verify and bench): a device kernel (cuda) gets its tensors
// copied to the device once, and its outputs copied back on finish().
#pragma once

#include <memory>
#include <vector>

#include "runtime/core/backend.hpp"

namespace attngen {

namespace cuda {
class DeviceArgs;
}

class KernelCalls {
 public:
  // One call per element of `host` (e.g. the layers of bench --rotate); the
  // tensors must outlive this object.
  KernelCalls(const Kernel& kernel, const std::vector<AttentionArgs>& host, const RunOptions& opt);
  ~KernelCalls();
  // Runs every call once; returns the milliseconds per call (device kernels:
  // timed on the device with events, launches included).
  double run_all();
  // Device kernels: waits and copies o and lse back into the host tensors.
  void finish();

 private:
  const Kernel& kernel_;
  RunOptions opt_;
  std::vector<AttentionArgs> host_;
  std::vector<std::unique_ptr<cuda::DeviceArgs>> device_;
};

// One call on host tensors, complete when it returns.
void run_on_host_tensors(const Kernel& kernel, const AttentionArgs& host, const RunOptions& opt);

}  // namespace attngen
