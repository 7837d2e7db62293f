#include "runtime/cuda/device_buffers.hpp"

#include <algorithm>

#include "runtime/core/error.hpp"

namespace attngen::cuda {

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  ensure_context();
  if (bytes == 0) return;
  if (const CUresult r = driver().MemAlloc(&ptr_, bytes); r != 0)
    throw Error("cuda: cannot allocate " + std::to_string(bytes) + " bytes of device memory: " + result_string(r));
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_) driver().MemFree(ptr_);
}

void DeviceBuffer::upload(const void* host, size_t bytes) const {
  if (bytes) check(driver().MemcpyHtoD(ptr_, host, bytes), "cuda: copying " + std::to_string(bytes) + " bytes to the device");
}

void DeviceBuffer::download(void* host, size_t bytes) const {
  if (bytes) check(driver().MemcpyDtoH(host, ptr_, bytes), "cuda: copying " + std::to_string(bytes) + " bytes from the device");
}

TensorRef DeviceArgs::mirror(const TensorRef& t) {
  if (!t.present() || !t.data) return t;
  for (int d = 0; d < t.rank; ++d)
    if (t.shape[d] <= 0) {  // empty: nothing to copy; the view keeps its shape (it is still checked)
      TensorRef empty = t;
      empty.data = nullptr;
      return empty;
    }
  const std::optional<ElementSpan> span = element_span(t);
  const size_t es = elem_size(t.type);
  if (!span || uint64_t(span->hi - span->lo) >= uint64_t(INT64_MAX) / es)
    throw Error("cuda: a host view of shape " + shape_string(t) + " and strides " + shape_string(t.stride, t.rank) +
                " reaches elements more than 2^63 bytes apart");
  const size_t bytes = size_t(span->hi - span->lo + 1) * es;
  Mirror m{&t, size_t(-span->lo) * es, bytes, DeviceBuffer(bytes)};
  m.buffer.upload(static_cast<const char*>(t.data) - m.offset_bytes, m.bytes);
  TensorRef d = t;
  d.data = reinterpret_cast<const void*>(m.buffer.ptr() + m.offset_bytes);
  mirrors_.push_back(std::move(m));
  return d;
}

DeviceArgs::DeviceArgs(const AttentionArgs& host) : host_(host) {
  mirrors_.reserve(12);
  device_.memory = Memory::device;
  device_.q = mirror(host_.q), device_.k = mirror(host_.k), device_.v = mirror(host_.v);
  device_.o = mirror(host_.o);
  if (device_.o.data) o_mirror_ = mirrors_.size() - 1;
  device_.lse = mirror(host_.lse);
  if (device_.lse.data && host_.lse.data) lse_mirror_ = mirrors_.size() - 1;
  device_.q_lens = mirror(host_.q_lens), device_.kv_lens = mirror(host_.kv_lens);
  device_.q_doc = mirror(host_.q_doc), device_.kv_doc = mirror(host_.kv_doc);
  device_.mask = mirror(host_.mask);
  device_.alibi_slopes = mirror(host_.alibi_slopes);
  device_.prefix_lens = mirror(host_.prefix_lens);
}

void DeviceArgs::download_outputs() const {
  synchronize();
  for (size_t i : {o_mirror_, lse_mirror_}) {
    if (i == SIZE_MAX) continue;
    const Mirror& m = mirrors_[i];
    m.buffer.download(const_cast<char*>(static_cast<const char*>(m.host->data)) - m.offset_bytes, m.bytes);
  }
}

void synchronize() { check(driver().CtxSynchronize(), "cuda: the kernel failed (cuCtxSynchronize)"); }

DeviceTimer::DeviceTimer() {
  ensure_context();
  check(driver().EventCreate(&start_, 0), "cuEventCreate");
  check(driver().EventCreate(&stop_, 0), "cuEventCreate");
}

DeviceTimer::~DeviceTimer() {
  if (start_) driver().EventDestroy(start_);
  if (stop_) driver().EventDestroy(stop_);
}

void DeviceTimer::start(CUstream stream) { check(driver().EventRecord(start_, stream), "cuEventRecord"); }

double DeviceTimer::stop_ms(CUstream stream) {
  check(driver().EventRecord(stop_, stream), "cuEventRecord");
  check(driver().EventSynchronize(stop_), "cuda: the kernel failed (cuEventSynchronize)");
  float ms = 0;
  check(driver().EventElapsedTime(&ms, start_, stop_), "cuEventElapsedTime");
  return ms;
}

}  // namespace attngen::cuda
