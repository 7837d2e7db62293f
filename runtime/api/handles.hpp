// The objects behind the C ABI's opaque handles, and the pool they live in.
// Handle memory is never returned to the system and a released slot is
// reused only after many later releases, so a released (or double-released)
// handle is still readable and fails its magic check instead of crashing; a
// pointer the pool never handed out is recognised by its address, unread.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <new>
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
    while (free_.size() <= kQuarantine) grow();
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
  // The live object behind `handle`, or throws ApiError(INVALID_HANDLE). A
  // pointer that is not the start of one of this pool's slots (made up, a
  // handle of the other kind, or pointing into one) is rejected by its
  // address alone, never read; a slot's magic then tells live from released.
  T* check(const T* handle, const char* what) const {
    if (!handle) throw ApiError(ATTNGEN_ERR_INVALID_HANDLE, std::string(what) + ": null handle");
    if (!owns(handle))
      throw ApiError(ATTNGEN_ERR_INVALID_HANDLE, std::string(what) + ": invalid handle (not a " + what +
                                                     " handle made by this library)");
    if (handle->magic.load(std::memory_order_acquire) != T::kLive)
      throw ApiError(ATTNGEN_ERR_INVALID_HANDLE,
                     std::string(what) + ": invalid handle (already released, or not a " + what + " handle)");
    return const_cast<T*>(handle);
  }

 private:
  // Block i holds kFirstBlock << i slots: the blocks a check scans stay few
  // (about log2 of the handles ever live at once).
  static constexpr size_t kFirstBlock = 256, kQuarantine = 1024;
  static constexpr int kMaxBlocks = 40;
  static size_t block_slots(int i) { return kFirstBlock << i; }

  void grow() {  // under mu_
    const int n = blocks_used_.load(std::memory_order_relaxed);
    if (n == kMaxBlocks) throw std::bad_alloc();
    T* block = new T[block_slots(n)];  // never freed, like the pool: released handles stay readable
    for (size_t i = 0; i < block_slots(n); ++i) free_.push_back(&block[i]);
    blocks_[n].store(block, std::memory_order_relaxed);
    blocks_used_.store(n + 1, std::memory_order_release);
  }
  bool owns(const T* p) const {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    const int n = blocks_used_.load(std::memory_order_acquire);
    for (int i = 0; i < n; ++i) {
      const uintptr_t b = reinterpret_cast<uintptr_t>(blocks_[i].load(std::memory_order_relaxed));
      if (a >= b && a - b < block_slots(i) * sizeof(T)) return (a - b) % sizeof(T) == 0;
    }
    return false;
  }

  std::mutex mu_;
  std::deque<T*> free_;
  std::atomic<T*> blocks_[kMaxBlocks] = {};
  std::atomic<int> blocks_used_{0};
};

HandlePool<attngen_kernel>& kernel_pool();
HandlePool<attngen_call>& call_pool();

}  // namespace attngen::capi
