#include "runtime/core/slow_notice.hpp"

#include <cstdio>

namespace attngen {

SlowNotice::SlowNotice(std::string message, std::chrono::milliseconds delay)
    : message_(std::move(message)), watcher_([this, delay] {
        std::unique_lock<std::mutex> lock(mu_);
        if (!cv_.wait_for(lock, delay, [this] { return done_; })) std::fprintf(stderr, "attngen: %s\n", message_.c_str());
      }) {}

SlowNotice::~SlowNotice() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
  watcher_.join();
}

}  // namespace attngen
