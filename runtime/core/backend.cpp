#include "runtime/core/backend.hpp"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "runtime/core/error.hpp"

namespace attngen {

const Backend& select_backend(const std::string& name, const Spec& spec) {
  const auto& all = all_backends();
  if (name == "auto") {
    std::string why;
    for (const Backend* b : all) {
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
    if (std::string r = b->unavailable_reason(); !r.empty())
      throw Error("backend " + name + ": unavailable on this machine: " + r);
    if (std::string r = b->unsupported_reason(spec); !r.empty())
      throw Error("backend " + name + ": cannot compile this spec: " + r);
    return *b;
  }
  throw Error("backend: unknown backend '" + name + "'; expected auto or one of: " + known);
}

void run_items(const CallPlan& plan, int threads) {
  const size_t n = plan.items();
  threads = int(std::min<size_t>(size_t(std::max(threads, 1)), std::max<size_t>(n, 1)));
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i; (i = next.fetch_add(1)) < n;) plan.run_item(i);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
}

void Kernel::execute(const BoundArgs& args, const RunOptions& opt) const {
  const int threads = opt.threads > 0 ? opt.threads : hardware_threads();
  run_items(*plan_call(args, threads), threads);
}

int hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n ? int(n) : 1;
}

}  // namespace attngen
