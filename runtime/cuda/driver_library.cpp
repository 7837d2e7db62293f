#include "runtime/cuda/driver_library.hpp"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

#include "runtime/core/error.hpp"

namespace attngen::cuda {
namespace {

struct Loaded {
  DriverLibrary lib{};
  bool ok = false;
  std::string why;
};

// Resolves the first of `names` that the library exports.
template <class Fn>
bool resolve(void* handle, std::initializer_list<const char*> names, Fn& fn, std::string& why) {
  for (const char* name : names)
    if ((fn = reinterpret_cast<Fn>(::dlsym(handle, name)))) return true;
  why = std::string("lacks ") + *names.begin();
  return false;
}

Loaded load() {
  Loaded r;
  // ATTNGEN_CUDA_DRIVER_LIBRARY=FILE loads another file (the tests' fake driver).
  std::string file = "libcuda.so.1";
  if (const char* f = std::getenv("ATTNGEN_CUDA_DRIVER_LIBRARY"); f && *f) file = f;
  void* handle = ::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* err = ::dlerror();
    r.why = "no CUDA driver (" + (err ? std::string(err) : file + " not found") + ")";
    return r;
  }
  DriverLibrary& l = r.lib;
  std::string& w = r.why;
  r.ok = resolve(handle, {"cuInit"}, l.Init, w) && resolve(handle, {"cuDriverGetVersion"}, l.DriverGetVersion, w) &&
         resolve(handle, {"cuGetErrorName"}, l.GetErrorName, w) &&
         resolve(handle, {"cuGetErrorString"}, l.GetErrorString, w) &&
         resolve(handle, {"cuDeviceGetCount"}, l.DeviceGetCount, w) && resolve(handle, {"cuDeviceGet"}, l.DeviceGet, w) &&
         resolve(handle, {"cuDeviceGetName"}, l.DeviceGetName, w) &&
         resolve(handle, {"cuDeviceGetAttribute"}, l.DeviceGetAttribute, w) &&
         resolve(handle, {"cuDevicePrimaryCtxRetain"}, l.DevicePrimaryCtxRetain, w) &&
         resolve(handle, {"cuCtxGetCurrent"}, l.CtxGetCurrent, w) &&
         resolve(handle, {"cuCtxSetCurrent"}, l.CtxSetCurrent, w) &&
         resolve(handle, {"cuCtxGetDevice"}, l.CtxGetDevice, w) &&
         resolve(handle, {"cuCtxSynchronize"}, l.CtxSynchronize, w) &&
         resolve(handle, {"cuModuleLoadData"}, l.ModuleLoadData, w) &&
         resolve(handle, {"cuModuleUnload"}, l.ModuleUnload, w) &&
         resolve(handle, {"cuModuleGetFunction"}, l.ModuleGetFunction, w) &&
         resolve(handle, {"cuFuncSetAttribute"}, l.FuncSetAttribute, w) &&
         resolve(handle, {"cuLaunchKernel"}, l.LaunchKernel, w) && resolve(handle, {"cuMemAlloc_v2"}, l.MemAlloc, w) &&
         resolve(handle, {"cuMemFree_v2"}, l.MemFree, w) && resolve(handle, {"cuMemcpyHtoD_v2"}, l.MemcpyHtoD, w) &&
         resolve(handle, {"cuMemcpyDtoH_v2"}, l.MemcpyDtoH, w) &&
         resolve(handle, {"cuPointerGetAttribute"}, l.PointerGetAttribute, w) &&
         resolve(handle, {"cuStreamSynchronize"}, l.StreamSynchronize, w) &&
         resolve(handle, {"cuEventCreate"}, l.EventCreate, w) &&
         resolve(handle, {"cuEventDestroy_v2"}, l.EventDestroy, w) &&
         resolve(handle, {"cuEventRecord"}, l.EventRecord, w) &&
         resolve(handle, {"cuEventSynchronize"}, l.EventSynchronize, w) &&
         resolve(handle, {"cuEventElapsedTime_v2", "cuEventElapsedTime"}, l.EventElapsedTime, w);
  l.CtxGetId = reinterpret_cast<decltype(l.CtxGetId)>(::dlsym(handle, "cuCtxGetId"));
  l.MemAllocAsync = reinterpret_cast<decltype(l.MemAllocAsync)>(::dlsym(handle, "cuMemAllocAsync"));
  l.MemFreeAsync = reinterpret_cast<decltype(l.MemFreeAsync)>(::dlsym(handle, "cuMemFreeAsync"));
  if (!r.ok) {
    r.why = "the CUDA driver (" + file + ") " + r.why + "; update the NVIDIA driver";
    return r;
  }
  if (const CUresult e = l.Init(0); e != 0) {
    r.ok = false;
    const char *name = nullptr, *text = nullptr;
    l.GetErrorName(e, &name);
    l.GetErrorString(e, &text);
    r.why = "cuInit failed: " + (name ? std::string(name) : "CUresult " + std::to_string(e)) +
            (text ? std::string(" (") + text + ")" : "");
    if (e == 100) r.why = "no CUDA device (" + r.why + ")";  // CUDA_ERROR_NO_DEVICE
  }
  return r;
}

const Loaded& loaded() {
  static const Loaded l = load();
  return l;
}

}  // namespace

const DriverLibrary* driver_library(std::string* why) {
  const Loaded& l = loaded();
  if (!l.ok && why) *why = l.why;
  return l.ok ? &l.lib : nullptr;
}

std::string result_string(CUresult r) {
  const Loaded& l = loaded();
  const char *name = nullptr, *text = nullptr;
  if (l.lib.GetErrorName) l.lib.GetErrorName(r, &name);
  if (l.lib.GetErrorString) l.lib.GetErrorString(r, &text);
  std::string s = name ? name : "CUresult " + std::to_string(r);
  if (text) s += std::string(" (") + text + ")";
  return s;
}

void check(CUresult r, const std::string& what) {
  if (r != 0) throw Error(what + ": " + result_string(r));
}

const DriverLibrary& driver() {
  std::string why;
  const DriverLibrary* d = driver_library(&why);
  if (!d) throw Error("cuda: " + why);
  return *d;
}

unsigned long long context_id(CUcontext ctx) {
  const DriverLibrary& d = driver();
  unsigned long long id = 0;
  if (d.CtxGetId) check(d.CtxGetId(ctx, &id), "cuCtxGetId");
  return id;
}

void check_device_pointer(const char* name, const void* p) {
  unsigned type = 0;
  if (const CUresult r = driver().PointerGetAttribute(&type, kPointerAttrMemoryType, CUdeviceptr(p)); r != 0) {
    char shown[32];
    std::snprintf(shown, sizeof shown, "%p", p);
    throw ArgumentError(std::string(name) + ": " + shown + " is not memory the CUDA driver knows (" +
                        result_string(r) +
                        "); cuda kernels take device pointers (cuMemAlloc, cudaMalloc, torch cuda tensors)");
  }
}

CUcontext ensure_context() {
  const DriverLibrary& d = driver();
  CUcontext ctx = nullptr;
  check(d.CtxGetCurrent(&ctx), "cuCtxGetCurrent");
  if (ctx) return ctx;
  CUdevice dev = 0;
  check(d.DeviceGet(&dev, 0), "cuDeviceGet(0)");
  check(d.DevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain(device 0)");  // held for the process
  check(d.CtxSetCurrent(ctx), "cuCtxSetCurrent");
  return ctx;
}

DeviceInfo device_info(int ordinal) {
  const DriverLibrary& d = driver();
  CUdevice dev = 0;
  check(d.DeviceGet(&dev, ordinal), "cuDeviceGet(" + std::to_string(ordinal) + ")");
  DeviceInfo info;
  char name[256] = {};
  check(d.DeviceGetName(name, sizeof name - 1, dev), "cuDeviceGetName");
  info.name = name;
  check(d.DeviceGetAttribute(&info.sm_major, kAttrComputeCapabilityMajor, dev), "cuDeviceGetAttribute");
  check(d.DeviceGetAttribute(&info.sm_minor, kAttrComputeCapabilityMinor, dev), "cuDeviceGetAttribute");
  check(d.DeviceGetAttribute(&info.sm_count, kAttrMultiprocessorCount, dev), "cuDeviceGetAttribute");
  check(d.DeviceGetAttribute(&info.max_smem_optin, kAttrMaxSharedMemoryPerBlockOptin, dev), "cuDeviceGetAttribute");
  return info;
}

int device_count() {
  const DriverLibrary* d = driver_library();
  int n = 0;
  if (!d || d->DeviceGetCount(&n) != 0) return 0;
  return n;
}

std::string driver_version() {
  const DriverLibrary* d = driver_library();
  int v = 0;
  if (!d || d->DriverGetVersion(&v) != 0) return "";
  return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
}

}  // namespace attngen::cuda
