#include "runtime/core/backend.hpp"

#include <thread>

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

int hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n ? int(n) : 1;
}

}  // namespace attngen
