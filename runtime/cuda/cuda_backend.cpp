#include "runtime/cuda/cuda_backend.hpp"

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "attngen_cuda_templates.hpp"
#include "codegen/cuda/render.hpp"
#include "runtime/core/error.hpp"
#include "runtime/core/text.hpp"
#include "runtime/cuda/cuda_kernel.hpp"
#include "runtime/cuda/driver_library.hpp"
#include "runtime/cuda/nvrtc_library.hpp"

namespace attngen {
namespace cuda {
namespace {

// Why device 0 cannot run kernels ("" when it can), and its arch.
struct Device {
  std::string why;
  Arch arch;
};

const Device& device0() {
  static const Device d = [] {
    Device r;
    std::string why;
    if (!driver_library(&why)) {
      r.why = why;
    } else if (device_count() == 0) {
      r.why = "no CUDA device (the driver sees none)";
    } else {
      try {
        const DeviceInfo info = device_info(0);
        r.arch.sm = info.sm_major * 10 + info.sm_minor;
        r.arch.accel = info.sm_major >= 9;  // sm_90a: the arch-specific features (wgmma, TMA)
        // Every kernel copies with cp.async, and the 16-bit ones multiply
        // with bf16/f16 mma.sync: Ampere and newer.
        if (info.sm_major < 8)
          r.why = "device 0 (" + info.name + ") is " + r.arch.name() +
                  "; attngen's CUDA kernels need sm_80 or newer (cp.async, bf16 tensor cores)";
      } catch (const Error& e) {
        r.why = e.what();
      }
    }
    return r;
  }();
  return d;
}

class CudaBackend final : public Backend {
 public:
  // `fixed`: an explicit arch (compiles without a GPU); else device 0's.
  // `schedule`: an explicit schedule (the compile option cuda_tile); else
  // ATTNGEN_CUDA_TILE's at each compile.
  explicit CudaBackend(std::optional<Arch> fixed, std::optional<Schedule> schedule = std::nullopt)
      : fixed_(std::move(fixed)), schedule_(std::move(schedule)) {}

  std::string name() const override { return "cuda"; }
  Memory memory() const override { return Memory::device; }

  // The arch, NVRTC's version, the templates and the schedule: all change the
  // cubin. ATTNGEN_CUDA_TILE is read at each call, as compile() reads it: a
  // process may compile one spec with several schedules (the bench times them
  // side by side), each its own key.
  std::string isa() const override { return target_of(schedule()); }

  std::string unavailable_reason() const override {
    std::string why;
    if (!nvrtc_library(&why)) return why;
    if (!fixed_ && !device0().why.empty())
      return device0().why + "; kernels can still be compiled without a GPU for an explicit arch (--arch sm_80|sm_86|sm_89|sm_90a)";
    return "";
  }

  // A malformed ATTNGEN_CUDA_TILE fails every backend selection (never a quiet default).
  std::string setting_error() const override {
    try {
      schedule_tag();
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }

  std::string setting_values() const override {
    const char* tile = std::getenv("ATTNGEN_CUDA_TILE");
    return tile ? tile : "";
  }

  std::string unsupported_reason(const Spec& spec) const override { return cuda::unsupported_reason(spec); }

  std::unique_ptr<Kernel> compile(const Spec& spec) const override {
    if (std::string why = unavailable_reason(); !why.empty()) throw Error("backend cuda: " + why);
    const Schedule sched = schedule();  // read once: the key's and the kernel's
    const std::string target = target_of(sched);
    return std::make_unique<CudaKernel>(spec, target,
                                        build_cubin(spec, arch(), sched,
                                                    "cuda kernel " + cache_key(spec, "cuda", target) + " for " + arch().name()));
  }

  std::unique_ptr<Kernel> deserialize(const Spec& spec, const std::vector<uint8_t>& image) const override {
    try {
      CubinImage m = decode_cubin_image(image);
      if (m.arch != arch().name()) return nullptr;
      return std::make_unique<CudaKernel>(spec, isa(), std::move(m));
    } catch (const Error&) {
      return nullptr;  // not an image of these templates: the caller rebuilds
    }
  }

  // `target`: "ARCH", "ARCH/TILE" or "/TILE" (an arch, a schedule or both:
  // the compile options cuda_arch and cuda_tile, as the C API joins them).
  const Backend& with_target(const std::string& target) const override {
    const size_t slash = target.find('/');
    std::optional<Arch> a;
    if (slash != 0) a = parse_arch(target.substr(0, slash));
    std::optional<Schedule> s;
    if (slash != std::string::npos) {
      s = Schedule{target.substr(slash + 1), "cuda_tile"};
      schedule_tag(*s);  // throws naming cuda_tile for a value it does not know
    }
    static std::mutex mu;
    static std::map<std::string, std::unique_ptr<CudaBackend>> by_target;  // never freed: kernels refer to them
    std::lock_guard<std::mutex> lock(mu);
    auto& b = by_target[(a ? a->name() : "") + (s ? "/" + s->tile : "")];
    if (!b) b = std::make_unique<CudaBackend>(a, s);
    return *b;
  }

 private:
  Arch arch() const { return fixed_ ? *fixed_ : device0().arch; }
  Schedule schedule() const { return schedule_ ? *schedule_ : Schedule::from_env(); }
  std::string target_of(const Schedule& sched) const {
    std::call_once(isa_once_, [this] {
      const NvrtcLibrary* lib = nvrtc_library();
      if (!lib || (!fixed_ && !device0().why.empty())) return;
      isa_ = arch().name() + "/nvrtc-" + lib->version() + "/tpl-" + std::string(kTemplatesHash).substr(0, 8);
    });
    return isa_.empty() ? isa_ : isa_ + schedule_tag(sched);
  }

  const std::optional<Arch> fixed_;
  const std::optional<Schedule> schedule_;
  mutable std::once_flag isa_once_;
  mutable std::string isa_;
};

}  // namespace

std::string cuda_target(const std::string& backend, const std::string& arch, const std::string& tile,
                        const std::string& arch_name, const std::string& tile_name) {
  if (arch.find('/') != std::string::npos)
    throw Error(arch_name + ": expected an arch such as sm_90a, got '" + printable(arch) + "'");
  if (tile.empty()) return arch;
  if (backend != "cuda")
    throw Error(tile_name + ": a schedule of backend cuda, got backend '" + printable(backend) + "'");
  schedule_tag(Schedule{tile, tile_name});  // throws for a value it does not know
  return arch + "/" + tile;
}

std::vector<std::string> environment_summary() {
  std::vector<std::string> lines;
  std::string why;
  if (const NvrtcLibrary* lib = nvrtc_library(&why))
    lines.push_back("nvrtc " + lib->version() + " (" + lib->path + ")");
  else
    lines.push_back(why);
  if (!driver_library(&why)) {
    lines.push_back(why);
    return lines;
  }
  lines.push_back("driver " + driver_version());
  const int n = device_count();
  if (n == 0) lines.push_back("no CUDA device");
  for (int i = 0; i < n; ++i) {
    try {
      const DeviceInfo d = device_info(i);
      lines.push_back("device " + std::to_string(i) + ": " + d.name + " (sm_" + std::to_string(d.sm_major) +
                      std::to_string(d.sm_minor) + ", " + std::to_string(d.sm_count) + " SMs, " +
                      std::to_string(d.max_smem_optin / 1024) + " KiB shared memory per block)");
    } catch (const Error& e) {
      lines.push_back("device " + std::to_string(i) + ": " + e.what());
    }
  }
  return lines;
}

}  // namespace cuda

const Backend& cuda_backend() {
  static const cuda::CudaBackend backend{std::nullopt};
  return backend;
}

}  // namespace attngen
