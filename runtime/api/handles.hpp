// The objects behind the C ABI's opaque handles, and the pool they live in.
// Handle memory is never returned to the system and a released slot is
// reused only after many later releases, so a released (or double-released)
// handle is still readable and fails its magic check instead of crashing.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/api/status.hpp"
#include "runtime/core/backend.hpp"

struct attngen_kernel {
  static constexpr uint32_t kLive = 0x4b524e4c;  // "KRNL"
  std::atomic<uint32_t> magic{0};
  std::atomic<int32_t> refs{0};
  std::shared_ptr<const attngen::Kernel> kernel;
  int threads = 0;                   // default of runs that ask for 0
  std::mutex info_mu;
  std::string spec_json;             // canonical, filled by the first get_info
  void reset() { kernel.reset(), threads = 0, spec_json.clear(); }
};

struct attngen_call {
  static constexpr uint32_t kLive = 0x43414c4c;  // "CALL"
  std::atomic<uint32_t> magic{0};
  std::shared_ptr<const attngen::Kernel> kernel;  // keeps the plan's kernel alive
  std::unique_ptr<attngen::CallPlan> plan;
  size_t items = 0;
  void reset() { plan.reset(), kernel.reset(), items = 0; }
};

namespace attngen::capi {

template <class T>
class HandlePool {
 public:
  // A live slot (magic set); the caller fills it.
  T* acquire() {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.size() <= kQuarantine) {
      blocks_.push_back(std::make_unique<T[]>(kBlock));
      for (size_t i = 0; i < kBlock; ++i) free_.push_back(&blocks_.back()[i]);
    }
    T* slot = free_.front();
    free_.pop_front();
    slot->magic.store(T::kLive, std::memory_order_release);
    return slot;
  }
  void release(T* slot) {
    slot->magic.store(0, std::memory_order_release);
    slot->reset();
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(slot);  // FIFO: reused last
  }
  // The live object behind `handle`, or throws ApiError(INVALID_HANDLE).
  static T* check(const T* handle, const char* what) {
    if (!handle) throw ApiError(ATTNGEN_ERR_INVALID_HANDLE, std::string(what) + ": null handle");
    if (handle->magic.load(std::memory_order_acquire) != T::kLive)
      throw ApiError(ATTNGEN_ERR_INVALID_HANDLE,
                     std::string(what) + ": invalid handle (already released, or not a " + what + " handle)");
    return const_cast<T*>(handle);
  }

 private:
  static constexpr size_t kBlock = 256, kQuarantine = 1024;
  std::mutex mu_;
  std::vector<std::unique_ptr<T[]>> blocks_;
  std::deque<T*> free_;
};

HandlePool<attngen_kernel>& kernel_pool();
HandlePool<attngen_call>& call_pool();

}  // namespace attngen::capi
