// One line on stderr when something the user waits for (a JIT compile) is
// still running after a delay, so that a stall of seconds is never silent.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace attngen {

// Prints `message` (one line) if still alive `delay` after construction.
class SlowNotice {
 public:
  SlowNotice(std::string message, std::chrono::milliseconds delay);
  ~SlowNotice();
  SlowNotice(const SlowNotice&) = delete;
  SlowNotice& operator=(const SlowNotice&) = delete;

 private:
  std::string message_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread watcher_;  // last: starts once the members above exist
};

}  // namespace attngen
