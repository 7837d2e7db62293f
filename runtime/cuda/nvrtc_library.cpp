#include "runtime/cuda/nvrtc_library.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <vector>

namespace attngen::cuda {
namespace {

struct Loaded {
  NvrtcLibrary lib;
  bool ok = false;
  std::string why;
};

// Resolves `name` into `fn`; false (and why) when the symbol is missing.
template <class Fn>
bool resolve(void* handle, const char* name, Fn& fn, std::string& why) {
  fn = reinterpret_cast<Fn>(::dlsym(handle, name));
  if (!fn) why = std::string("NVRTC library lacks ") + name;
  return fn != nullptr;
}

Loaded load() {
  Loaded r;
  void* handle = nullptr;
  std::string tried;
  // The CUDA 13 soname first; an unversioned libnvrtc.so (a toolkit or the
  // nvidia-cuda-nvrtc wheel put on LD_LIBRARY_PATH) otherwise.
  // ATTNGEN_NVRTC_LIBRARY=FILE names the one file to load instead.
  std::vector<std::string> names = {"libnvrtc.so.13", "libnvrtc.so"};
  if (const char* f = std::getenv("ATTNGEN_NVRTC_LIBRARY"); f && *f) names = {f};
  for (const std::string& name : names) {
    handle = ::dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle) {
      r.lib.path = name;
      break;
    }
    const char* err = ::dlerror();
    tried += (tried.empty() ? "" : "; ") + (err ? std::string(err) : name);
  }
  if (!handle) {
    r.why = "no NVRTC library (" + tried +
            "); install the CUDA 13 toolkit or the nvidia-cuda-nvrtc wheel and put its lib directory on LD_LIBRARY_PATH";
    return r;
  }
  NvrtcLibrary& l = r.lib;
  nvrtcResult (*version)(int*, int*) = nullptr;
  std::string& why = r.why;
  r.ok = resolve(handle, "nvrtcVersion", version, why) && resolve(handle, "nvrtcGetErrorString", l.GetErrorString, why) &&
         resolve(handle, "nvrtcCreateProgram", l.CreateProgram, why) &&
         resolve(handle, "nvrtcDestroyProgram", l.DestroyProgram, why) &&
         resolve(handle, "nvrtcCompileProgram", l.CompileProgram, why) &&
         resolve(handle, "nvrtcGetProgramLogSize", l.GetProgramLogSize, why) &&
         resolve(handle, "nvrtcGetProgramLog", l.GetProgramLog, why) &&
         resolve(handle, "nvrtcGetCUBINSize", l.GetCUBINSize, why) && resolve(handle, "nvrtcGetCUBIN", l.GetCUBIN, why) &&
         resolve(handle, "nvrtcGetPTXSize", l.GetPTXSize, why) && resolve(handle, "nvrtcGetPTX", l.GetPTX, why);
  if (r.ok && version(&l.major, &l.minor) != 0) r.ok = false, why = "nvrtcVersion failed";
  if (!r.ok) why += " (" + l.path + ")";
  // The handle stays open for the life of the process: kernels may compile at any time.
  return r;
}

}  // namespace

const NvrtcLibrary* nvrtc_library(std::string* why) {
  static const Loaded loaded = load();
  if (!loaded.ok && why) *why = loaded.why;
  return loaded.ok ? &loaded.lib : nullptr;
}

}  // namespace attngen::cuda
