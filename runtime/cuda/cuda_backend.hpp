// The cuda backend: spec -> CUDA source (codegen/cuda) -> NVRTC cubin ->
// launch through the driver API on device pointers. Chosen by name only
// (`auto` means the CPU). Compiling needs NVRTC alone; the default arch and
// running need the driver and a GPU.
#pragma once

#include <string>

#include "runtime/core/backend.hpp"

namespace attngen {

// Compiles for device 0's arch (sm_90 devices: sm_90a).
const Backend& cuda_backend();

namespace cuda {

// The target select_backend takes for an explicit arch and schedule of the
// cuda backend ("" for either: device 0's arch, the per-spec tile or
// ATTNGEN_CUDA_TILE's): "ARCH", "ARCH/TILE", "/TILE" or "". `backend`: the
// backend asked for (a schedule is cuda's); `arch_name`, `tile_name`: what the
// caller calls them (options.cuda_arch, --cuda-tile). Throws Error naming the
// one it does not take.
std::string cuda_target(const std::string& backend, const std::string& arch, const std::string& tile,
                        const std::string& arch_name, const std::string& tile_name);

// NVRTC, driver and device 0, one line each, for `attngen info`, e.g.
// "nvrtc 13.0 (libnvrtc.so.13)", "driver 13.0", "device 0: NVIDIA H100 (sm_90, 132 SMs)";
// or why each is missing.
std::vector<std::string> environment_summary();

}  // namespace cuda
}  // namespace attngen
