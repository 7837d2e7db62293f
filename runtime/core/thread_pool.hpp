// A process-wide pool of worker threads that help calls run their work items,
// so that a call costs no thread start-up (which dominates small decode calls).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace attngen {

class ThreadPool {
 public:
  // Created on first use with one worker per hardware thread but one (the
  // calling thread always works too).
  static ThreadPool& instance();
  ~ThreadPool();
  void submit(std::function<void()> task);

 private:
  explicit ThreadPool(int workers);
  void work();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace attngen
