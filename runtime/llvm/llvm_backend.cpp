#include "runtime/llvm/llvm_backend.hpp"

#include "runtime/core/error.hpp"

#ifdef ATTNGEN_HAVE_LLVM
#include <chrono>
#include <cstdlib>

#include "attngen_llvm_templates.hpp"
#include "codegen/llvm/object_compiler.hpp"
#include "codegen/x86/cpu.hpp"
#include "runtime/core/slow_notice.hpp"
#include "runtime/llvm/llvm_kernel.hpp"
#endif

namespace attngen {
namespace {

#ifdef ATTNGEN_HAVE_LLVM
using llvmgen::TargetSpec;

// This machine as LLVM sees it, capped like the x86 backend by
// ATTNGEN_MAX_ISA (avx2: the x86-64-v3 level; none: baseline x86-64, SSE2).
TargetSpec capped_host() {
  TargetSpec t = llvmgen::host_target();
  if (t.triple.rfind("x86_64", 0) != 0 || !std::getenv("ATTNGEN_MAX_ISA")) return t;
  const x86::CpuInfo& cpu = x86::cpu_info();
  const bool host_avx512 = llvmgen::has_feature(t, "avx512f");
  if (cpu.isa == x86::Isa::avx2 && host_avx512) return llvmgen::cross_target(t.triple, "x86-64-v3");
  if (cpu.isa == x86::Isa::none) return llvmgen::cross_target(t.triple, "x86-64");
  return t;
}

const TargetSpec& target() {
  static const TargetSpec t = capped_host();
  return t;
}

std::string isa_name(const TargetSpec& t) {
  return t.cpu + "/" + std::to_string(llvmgen::f32_lanes(t)) + "xf32";
}

class LlvmBackend final : public Backend {
 public:
  std::string name() const override { return "llvm"; }
  // The target (CPU, its features), LLVM's release and the templates: all change the object.
  std::string isa() const override {
    static const std::string s = target().name() + "+" + stable_hash_hex(target().features).substr(0, 8) + "/llvm-" +
                                 llvmgen::llvm_version() + "/tpl-" +
                                 std::string(llvmgen::kTemplatesHash).substr(0, 8);
    return s;
  }
  std::string setting_error() const override { return x86::cpu_info().setting_error; }
  std::unique_ptr<Kernel> compile(const Spec& spec) const override {
    std::string source;
    llvmgen::CpuObjectImage image = llvmgen::build_object(spec, target(), &source);
    return std::make_unique<llvmgen::LlvmKernel>(spec, isa(), isa_name(target()), std::move(image),
                                                 std::move(source));
  }
  std::unique_ptr<Kernel> deserialize(const Spec& spec, const std::vector<uint8_t>& image) const override {
    try {
      return std::make_unique<llvmgen::LlvmKernel>(spec, isa(), isa_name(target()),
                                                   llvmgen::decode_object_image(image));
    } catch (const Error&) {
      return nullptr;  // not an image of these templates: the caller rebuilds
    }
  }
};
#else
class LlvmBackend final : public Backend {
 public:
  std::string name() const override { return "llvm"; }
  std::string isa() const override { return ""; }
  std::string unavailable_reason() const override {
    return "this attngen was built without LLVM (install llvm-16-dev, libclang-cpp16-dev and libclang-16-dev, "
           "then reconfigure)";
  }
  std::unique_ptr<Kernel> compile(const Spec&) const override { throw Error("backend llvm: " + unavailable_reason()); }
};
#endif

}  // namespace

const Backend& llvm_backend() {
  static const LlvmBackend backend;
  return backend;
}

namespace llvmgen {

AotObject compile_ahead_of_time(const Spec& spec, const std::string& triple, const std::string& cpu,
                                const std::string& symbol_prefix) {
#ifdef ATTNGEN_HAVE_LLVM
  TargetSpec t = target();
  if (!triple.empty())
    t = cross_target(triple, cpu);
  else if (!cpu.empty())
    t = cross_target(t.triple, cpu);
  const RenderedCpuKernel r = render_cpu_attention(spec, t, symbol_prefix);
  AotObject a;
  {
    SlowNotice notice("compiling " + r.symbol_prefix + " for " + t.name() + " with LLVM...",
                      std::chrono::milliseconds(100));
    a.object = compile_to_object(r.source, t);
  }
  a.header = render_aot_header(spec, t, r);
  a.target = t.name();
  a.description = r.description;
  a.symbol_prefix = r.symbol_prefix;
  return a;
#else
  (void)spec, (void)triple, (void)cpu, (void)symbol_prefix;
  throw Error("backend llvm: " + llvm_backend().unavailable_reason());
#endif
}

std::string environment_summary() {
#ifdef ATTNGEN_HAVE_LLVM
  return "llvm " + llvm_version() + ", target " + target().name() + " (" + std::to_string(f32_lanes(target())) +
         " f32 lanes)";
#else
  return llvm_backend().unavailable_reason();
#endif
}
}  // namespace llvmgen

}  // namespace attngen
