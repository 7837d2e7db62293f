// One NVRTC compile: CUDA C++ source -> cubin (or PTX), with the program log.
// Failures are Errors carrying the log, never crashes; a compile that runs
// longer than a second prints one progress line on stderr (JIT users
// otherwise see a silent stall).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attngen::cuda {

struct NvrtcOutput {
  std::vector<uint8_t> cubin;  // empty for a compute_XX (PTX only) compile
  std::string ptx;             // when NVRTC provides it
  std::string log;             // the program log: warnings and ptxas's report
};

// Compiles `source` (named `file` in messages) with `options` plus
// --gpu-architecture=`gpu_arch` ("sm_90a" for a cubin, "compute_90a" for PTX
// only). `what` names the compile in the progress line and in errors, e.g.
// "cuda kernel 1a2b... for sm_90a". Throws Error holding the NVRTC log when
// the compile fails, and the reason when NVRTC is not installed.
NvrtcOutput nvrtc_compile(const std::string& source, const std::string& file, const std::vector<std::string>& options,
                          const std::string& gpu_arch, const std::string& what);

// The same source compiled once per option set, the compiles side by side on
// threads of their own (NVRTC compiles separate programs concurrently), under
// one progress line. Outputs in the order of `option_sets`; the first failure
// in that order is thrown once all have ended.
std::vector<NvrtcOutput> nvrtc_compile_each(const std::string& source, const std::string& file,
                                            const std::vector<std::vector<std::string>>& option_sets,
                                            const std::string& gpu_arch, const std::string& what);

}  // namespace attngen::cuda
