// The backends built into this binary, most preferred first.
#include "runtime/core/backend.hpp"
#include "runtime/reference/reference.hpp"
#include "runtime/x86/x86_backend.hpp"

namespace attngen {

const std::vector<const Backend*>& all_backends() {
  static const std::vector<const Backend*> backends = {&x86_backend(), &reference_backend()};
  return backends;
}

}  // namespace attngen
