// The in-process kernel cache: key -> compiled kernel, bounded (least
// recently used entries are dropped first) and single-flight: when many
// threads ask for one missing key at once, one of them builds it and the
// others wait for that result. A failed build is reported to every waiter,
// each with an exception object of its own, and not cached, so the next
// request tries again.
#pragma once

#include <cstddef>
#include <functional>
#include <future>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "runtime/core/backend.hpp"
#include "runtime/core/error.hpp"

namespace attngen {

class MemoryCache {
 public:
  using KernelPtr = std::shared_ptr<const Kernel>;
  using Build = std::function<KernelPtr()>;

  explicit MemoryCache(size_t capacity);

  // The cached kernel, or null (counts as a use for the LRU order).
  KernelPtr find(const std::string& key);
  // The cached kernel; on a miss, `build` runs once for all concurrent
  // callers of this key. `*built` says whether this call ran it.
  KernelPtr get_or_build(const std::string& key, const Build& build, bool* built = nullptr);

  size_t size() const;
  size_t capacity() const { return capacity_; }
  void clear();

 private:
  struct Entry {
    KernelPtr kernel;
    std::list<std::string>::iterator lru;  // position in lru_, front = most recent
  };
  // A failed build as the waiters rethrow it: each throws a new copy, never
  // the builder's object (see Error::clone).
  class Failure {
   public:
    static Failure of_current_exception();  // call only inside a catch block
    [[noreturn]] void raise() const;

   private:
    std::shared_ptr<const Error> error_;  // an attngen::Error, or else
    std::string message_;                 // what() of another exception (thrown as std::runtime_error)
    bool out_of_memory_ = false;
  };
  struct Outcome {
    KernelPtr kernel;
    std::optional<Failure> failure;
  };
  void insert_locked(const std::string& key, KernelPtr kernel);

  const size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> lru_;
  std::unordered_map<std::string, std::shared_future<Outcome>> building_;
};

}  // namespace attngen
