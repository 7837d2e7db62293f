#include "runtime/core/backend.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/core/error.hpp"
#include "runtime/core/text.hpp"
#include "runtime/core/thread_pool.hpp"

namespace attngen {

const Backend& Backend::with_target(const std::string& target) const {
  throw Error("backend " + name() + ": compiles for this machine only; an explicit target ('" + printable(target) +
              "') is for the cuda backend (--arch, cuda_arch)");
}

BoundArgs Kernel::bind(const AttentionArgs& args) const {
  if (args.memory != memory())
    throw Error(std::string("args: backend ") + backend_ + " kernels read " + memory_name(memory()) +
                " memory, but the tensors were given in " + memory_name(args.memory) + " memory" +
                (memory() == Memory::device
                     ? " (pass device pointers: attngen_kernel_run_cuda in the C ABI; the CLI copies tensors to the device)"
                     : " (device pointers are for cuda kernels; copy the tensors to the host or compile with backend cuda)"));
  return bind_args(spec_, args);
}

const Backend& select_backend(const std::string& name, const Spec& spec, const std::string& target) {
  const auto& all = all_backends();
  for (const Backend* b : all)
    if (std::string e = b->setting_error(); !e.empty()) throw Error("backend " + b->name() + ": " + e);
  if (name == "auto") {
    if (!target.empty())
      throw Error("backend auto: an explicit target ('" + printable(target) +
                  "') needs a named backend (e.g. --backend cuda --arch " + printable(target) + ")");
    std::string why;
    for (const Backend* b : all) {
      if (b->memory() != Memory::host) continue;  // auto means the CPU: device backends are chosen by name
      std::string r = b->unavailable_reason();
      if (r.empty()) r = b->unsupported_reason(spec);
      if (r.empty()) return *b;
      why += "\n  " + b->name() + ": " + r;
    }
    throw Error("backend auto: no backend can run this spec:" + why);
  }
  std::string known;
  for (const Backend* b : all) {
    if (b->name() != name) {
      known += (known.empty() ? "" : ", ") + b->name();
      continue;
    }
    if (!target.empty()) b = &b->with_target(target);
    if (std::string r = b->unavailable_reason(); !r.empty())
      throw Error("backend " + name + ": unavailable on this machine: " + r);
    if (std::string r = b->unsupported_reason(spec); !r.empty())
      throw Error("backend " + name + ": cannot compile this spec: " + r);
    return *b;
  }
  throw Error("backend: unknown backend '" + printable(name) + "'; expected auto or one of: " + known);
}

// Items are handed out by an atomic counter to the caller and to up to
// threads - 1 pool workers. The caller always works, so a call completes even
// while every worker is busy with other calls; it returns once every item has
// run. A worker that starts late finds no item left and never touches the plan.
void run_items(const CallPlan& plan, int threads) {
  const size_t n = plan.items();
  threads = int(std::min<size_t>(size_t(std::max(threads, 1)), n));
  if (threads <= 1) {
    for (size_t i = 0; i < n; ++i) plan.run_item(i);
    return;
  }
  struct State {
    const CallPlan* plan;
    size_t n;
    std::atomic<size_t> next{0}, done{0};
    std::mutex mu;
    std::condition_variable cv;
    std::exception_ptr error;
  };
  auto st = std::make_shared<State>();
  st->plan = &plan, st->n = n;
  auto work = [st] {
    for (size_t i; (i = st->next.fetch_add(1)) < st->n;) {
      try {
        st->plan->run_item(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(st->mu);
        if (!st->error) st->error = std::current_exception();
      }
      if (st->done.fetch_add(1) + 1 == st->n) {
        std::lock_guard<std::mutex> lock(st->mu);
        st->cv.notify_all();
      }
    }
  };
  for (int t = 1; t < threads; ++t) ThreadPool::instance().submit(work);
  work();
  std::unique_lock<std::mutex> lock(st->mu);
  st->cv.wait(lock, [&] { return st->done.load() == st->n; });
  if (st->error) std::rethrow_exception(st->error);
}

void Kernel::execute(const BoundArgs& args, const RunOptions& opt) const {
  const int threads = std::min(opt.threads > 0 ? opt.threads : hardware_threads(), kMaxParts);
  run_items(*plan(args, threads), threads);
}

int hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n ? int(n) : 1;
}

}  // namespace attngen
