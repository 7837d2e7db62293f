// NVRTC, loaded at run time (dlopen of libnvrtc.so.13, else libnvrtc.so), so
// that attngen builds and runs without CUDA. Only the functions attngen calls
// are declared here, with the C types of nvrtc.h; no CUDA header is needed.
#pragma once

#include <cstddef>
#include <string>

namespace attngen::cuda {

using nvrtcResult = int;  // NVRTC_SUCCESS = 0
using nvrtcProgram = struct _nvrtcProgram*;

struct NvrtcLibrary {
  std::string path;       // the file dlopen found, e.g. "libnvrtc.so.13"
  int major = 0, minor = 0;  // nvrtcVersion
  const char* (*GetErrorString)(nvrtcResult);
  nvrtcResult (*CreateProgram)(nvrtcProgram*, const char* src, const char* name, int num_headers,
                               const char* const* headers, const char* const* include_names);
  nvrtcResult (*DestroyProgram)(nvrtcProgram*);
  nvrtcResult (*CompileProgram)(nvrtcProgram, int num_options, const char* const* options);
  nvrtcResult (*GetProgramLogSize)(nvrtcProgram, size_t*);
  nvrtcResult (*GetProgramLog)(nvrtcProgram, char*);
  nvrtcResult (*GetCUBINSize)(nvrtcProgram, size_t*);
  nvrtcResult (*GetCUBIN)(nvrtcProgram, char*);
  nvrtcResult (*GetPTXSize)(nvrtcProgram, size_t*);
  nvrtcResult (*GetPTX)(nvrtcProgram, char*);

  std::string version() const { return std::to_string(major) + "." + std::to_string(minor); }
};

// The library, loaded on first use; nullptr when it cannot be loaded, with
// the reason in *why (which files were tried and what dlopen said).
const NvrtcLibrary* nvrtc_library(std::string* why = nullptr);

}  // namespace attngen::cuda
