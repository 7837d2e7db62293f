#include "tools/attngen/backend_flags.hpp"

#include "runtime/cuda/cuda_backend.hpp"

namespace attngen::cli {

void BackendFlags::add_to(CLI::App* cmd, bool with_arch) {
  cmd->add_option("--backend", backend, "auto, or a backend name (see `attngen info`)");
  if (with_arch)
    cmd->add_option("--arch", arch,
                    "cuda: the GPU to compile for (sm_80, sm_86, sm_89, sm_90a; default: device 0's). Needs NVRTC, no GPU");
  cmd->add_option("--cuda-tile", cuda_tile,
                  "cuda: the f16/bf16 schedule, as ATTNGEN_CUDA_TILE spells it (16x32k4: decoding, 4 warps splitting "
                  "the keys; 128x128wsp: sm_90a; default: the per-spec tile or ATTNGEN_CUDA_TILE's)");
}

const Backend& BackendFlags::select(const Spec& spec) const {
  return select_backend(backend, spec, cuda::cuda_target(backend, arch, cuda_tile, "--arch", "--cuda-tile"));
}

}  // namespace attngen::cli
