// The backends built into this binary, most preferred first.
#include "runtime/core/backend.hpp"
#include "runtime/cuda/cuda_backend.hpp"
#include "runtime/llvm/llvm_backend.hpp"
#include "runtime/reference/reference.hpp"
#include "runtime/x86/x86_backend.hpp"

namespace attngen {

const std::vector<const Backend*>& all_backends() {
  // x86 where it applies, llvm on any other CPU, the float64 reference where
  // neither can run; cuda last: it runs on device memory and is chosen by
  // name only (`auto` skips it).
  static const std::vector<const Backend*> backends = {&x86_backend(), &llvm_backend(), &reference_backend(),
                                                       &cuda_backend()};
  return backends;
}

}  // namespace attngen
