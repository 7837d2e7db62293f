#include "tools/common/kernel_calls.hpp"

#include <chrono>

#include "runtime/cuda/device_buffers.hpp"

namespace attngen {

KernelCalls::KernelCalls(const Kernel& kernel, const std::vector<AttentionArgs>& host, const RunOptions& opt)
    : kernel_(kernel), opt_(opt), host_(host) {
  if (kernel.memory() == Memory::device)
    for (const AttentionArgs& a : host_) device_.push_back(std::make_unique<cuda::DeviceArgs>(a));
}

KernelCalls::~KernelCalls() = default;

double KernelCalls::run_all() {
  if (device_.empty()) {
    const auto t0 = std::chrono::steady_clock::now();
    for (const AttentionArgs& a : host_) kernel_.run(a, opt_);
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() /
           double(host_.size());
  }
  cuda::DeviceTimer timer;
  timer.start();
  for (const auto& d : device_) kernel_.run(d->args(), opt_);
  return timer.stop_ms() / double(device_.size());
}

void KernelCalls::finish() {
  for (const auto& d : device_) d->download_outputs();
}

void run_on_host_tensors(const Kernel& kernel, const AttentionArgs& host, const RunOptions& opt) {
  KernelCalls calls(kernel, {host}, opt);
  calls.run_all();
  calls.finish();
}

}  // namespace attngen
