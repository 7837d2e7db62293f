// A compiled CUDA attention kernel: the two cubins NVRTC built from the
// rendered template (the kernel; split-KV's instance and merge), its entry
// point, launch shape and ptxas report. It serialises (the disk cache keeps
// cubins across processes), loads its modules lazily in each CUDA context
// that launches it, and launches one grid per call on the
// caller's stream, on device pointers (with split-KV, a second grid merges
// the splits: render.hpp, kv_splits).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "codegen/cuda/render.hpp"
#include "runtime/core/backend.hpp"
#include "runtime/cuda/driver_library.hpp"
#include "runtime/cuda/ptxas_report.hpp"

namespace attngen::cuda {

// Everything of a compile that a later process needs to launch it.
struct CubinImage {
  std::string arch;         // "sm_90a"
  std::string entry;        // extern "C" kernel name
  LaunchShape launch;
  std::string description;  // RenderedKernel::description
  std::string ptxas_log;    // NVRTC's program logs of both modules (ptxas -v lines)
  std::vector<uint8_t> cubin;        // the kernel's module (kKernelModule)
  std::vector<uint8_t> split_cubin;  // split-KV's instance and merge (kSplitModule)
};
// Bytes for the disk cache, tagged with kTemplatesHash; decode_cubin_image
// throws Error for anything else (another template version, truncation).
std::vector<uint8_t> encode_cubin_image(const CubinImage& image);
CubinImage decode_cubin_image(const std::vector<uint8_t>& bytes);

// Renders `spec` for `arch` with `schedule` and compiles its two modules, side by side, to
// cubins with ptxas's report (NVRTC options: the renderer's, the module's,
// --ptxas-options=-v, the architecture). `what` names it in messages. The
// rendered source and the PTX of both modules go to *source and *ptx when given. Throws Error with the NVRTC log on failure.
CubinImage build_cubin(const Spec& spec, const Arch& arch, const Schedule& schedule, const std::string& what,
                       std::string* source = nullptr, std::string* ptx = nullptr);

class CudaKernel final : public Kernel {
 public:
  // `target`: the backend's isa() (in the key).
  CudaKernel(const Spec& spec, const std::string& target, CubinImage image);
  ~CudaKernel() override;

  Memory memory() const override { return Memory::device; }
  void execute(const BoundArgs& args, const RunOptions& opt) const override;
  std::unique_ptr<CallPlan> plan_call(const BoundArgs& args, int parts) const override;
  std::vector<uint8_t> serialize() const override { return encode_cubin_image(image_); }
  std::vector<CodeBlob> code_blobs() const override;
  std::vector<std::pair<std::string, std::string>> details() const override;

  const CubinImage& image() const { return image_; }
  // ptxas's report of each entry: the kernel, its split-KV instance, the merge.
  const PtxasReport& report() const { return report_; }
  const PtxasReport& split_report() const { return split_report_; }
  const PtxasReport& merge_report() const { return merge_report_; }

 private:
  // The module loaded in one context, known by handle and id (context_id):
  // a handle alone may name a newer context at a destroyed one's address.
  struct Loaded {
    CUcontext ctx;
    unsigned long long ctx_id;
    CUmodule module, split_module;
    CUfunction function, split, merge;  // the kernel; split-KV's share of the keys and merge
    int sm_count;                // the context's device's
  };
  Loaded function_in(CUcontext ctx) const;  // loads the modules on first use in ctx
  CUmodule load_module(const std::vector<uint8_t>& cubin) const;  // throws Error naming the device

  CubinImage image_;
  PtxasReport report_, split_report_, merge_report_;
  mutable std::mutex mu_;
  mutable std::vector<Loaded> loaded_;
  // ATTNGEN_DUMP: rendered source, PTX and ptxas log, made on first request.
  mutable std::once_flag dump_once_;
  mutable std::string dump_source_, dump_ptx_;
};

}  // namespace attngen::cuda
