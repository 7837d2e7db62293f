// The x86 backend: AVX2 or AVX-512 machine code generated at run time with Xbyak.
#include "runtime/x86/x86_backend.hpp"

#include "runtime/core/error.hpp"
#include "runtime/x86/x86_kernel.hpp"

namespace attngen {
namespace {

class X86Backend final : public Backend {
 public:
  std::string name() const override { return "x86"; }
  std::string isa() const override { return x86::cpu_info().target(); }
  std::string setting_error() const override { return x86::cpu_info().setting_error; }
  std::string unavailable_reason() const override {
    return x86::cpu_info().isa == x86::Isa::none ? x86::cpu_info().why_not : "";
  }
  std::unique_ptr<Kernel> compile(const Spec& spec) const override { return std::make_unique<x86::X86Kernel>(spec); }
  std::unique_ptr<Kernel> deserialize(const Spec& spec, const std::vector<uint8_t>& image) const override {
    try {
      return std::make_unique<x86::X86Kernel>(spec, x86::decode_image(image, x86::X86Kernel::host_plan(spec).describe()));
    } catch (const Error&) {
      return nullptr;  // not an image of this generator: the caller rebuilds
    }
  }
};

}  // namespace

const Backend& x86_backend() {
  static const X86Backend backend;
  return backend;
}

}  // namespace attngen
