#include "runtime/cache/memory_cache.hpp"

#include <algorithm>

namespace attngen {

MemoryCache::MemoryCache(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {}

MemoryCache::KernelPtr MemoryCache::find(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.kernel;
}

MemoryCache::KernelPtr MemoryCache::get_or_build(const std::string& key, const Build& build, bool* built) {
  if (built) *built = false;
  std::promise<Outcome> promise;
  std::unique_lock<std::mutex> lock(mu_);
  if (auto it = entries_.find(key); it != entries_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return it->second.kernel;
  }
  if (auto it = building_.find(key); it != building_.end()) {
    std::shared_future<Outcome> pending = it->second;
    lock.unlock();
    const Outcome& outcome = pending.get();
    if (outcome.failure) outcome.failure->raise();
    return outcome.kernel;
  }
  building_.emplace(key, promise.get_future().share());
  lock.unlock();

  // This thread builds; the others wait on the shared future.
  KernelPtr kernel;
  try {
    kernel = build();
  } catch (...) {
    lock.lock();
    building_.erase(key);
    promise.set_value(Outcome{nullptr, Failure::of_current_exception()});
    throw;
  }
  lock.lock();
  building_.erase(key);
  insert_locked(key, kernel);
  promise.set_value(Outcome{kernel, std::nullopt});
  if (built) *built = true;
  return kernel;
}

MemoryCache::Failure MemoryCache::Failure::of_current_exception() {
  Failure f;
  try {
    throw;
  } catch (const Error& e) {
    f.error_ = e.clone();
  } catch (const std::bad_alloc&) {
    f.out_of_memory_ = true;
  } catch (const std::exception& e) {
    f.message_ = e.what();
  } catch (...) {
    f.message_ = "unknown exception";
  }
  return f;
}

void MemoryCache::Failure::raise() const {
  if (error_) error_->raise();
  if (out_of_memory_) throw std::bad_alloc();
  throw std::runtime_error(message_);
}

void MemoryCache::insert_locked(const std::string& key, KernelPtr kernel) {
  lru_.push_front(key);
  auto [it, fresh] = entries_.try_emplace(key, Entry{std::move(kernel), lru_.begin()});
  if (!fresh) {  // cannot happen while building_ guards the key; keep the list consistent anyway
    lru_.erase(it->second.lru);
    it->second.lru = lru_.begin();
  }
  while (entries_.size() > capacity_) {
    entries_.erase(lru_.back());
    lru_.pop_back();
  }
}

size_t MemoryCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

void MemoryCache::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.clear();
  lru_.clear();
}

}  // namespace attngen
