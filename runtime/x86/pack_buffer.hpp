// Per-thread memory for packed K/V blocks: anonymous pages asked to be 2 MiB
// huge pages (MADV_HUGEPAGE) where the kernel allows it. A long-context pack
// (32 MiB per thread at Skv = 32768, f32) is streamed once per Q tile; with
// 4 KiB pages every 4 KiB of it costs a TLB miss, which measured the 32768^2
// call 22% slower per FLOP than 2048^2. Contents are not kept when it grows.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <new>

namespace attngen::x86 {

class PackBuffer {
 public:
  PackBuffer() = default;
  PackBuffer(const PackBuffer&) = delete;
  PackBuffer& operator=(const PackBuffer&) = delete;
  ~PackBuffer() { release(); }

  float* data() const { return static_cast<float*>(p_); }
  // At least `floats` floats; throws std::bad_alloc when the pages cannot be mapped.
  void reserve(size_t floats) {
    const size_t need = floats * sizeof(float);
    if (need <= bytes_) return;
    release();
    constexpr size_t kHuge = size_t(2) << 20;
    const size_t bytes = (need + kHuge - 1) / kHuge * kHuge;
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    (void)madvise(p, bytes, MADV_HUGEPAGE);  // advice only: 4 KiB pages still work
    p_ = p, bytes_ = bytes;
  }

 private:
  void release() {
    if (p_) munmap(p_, bytes_);
    p_ = nullptr, bytes_ = 0;
  }
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace attngen::x86
