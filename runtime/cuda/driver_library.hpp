// The CUDA driver API, loaded at run time (dlopen of libcuda.so.1), so that
// attngen builds and runs on machines with no driver. Only what attngen calls
// is declared, with the types of cuda.h; the versioned entry points (_v2)
// are the ones cuda.h's macros select.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace attngen::cuda {

using CUresult = int;  // CUDA_SUCCESS = 0
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st*;
using CUmodule = struct CUmod_st*;
using CUfunction = struct CUfunc_st*;
using CUstream = struct CUstream_st*;
using CUevent = struct CUevent_st*;

// Enum values of cuda.h that attngen uses.
constexpr int kAttrMultiprocessorCount = 16;             // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
constexpr int kAttrComputeCapabilityMajor = 75;          // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
constexpr int kAttrComputeCapabilityMinor = 76;          // ..._MINOR
constexpr int kAttrMaxSharedMemoryPerBlockOptin = 97;    // CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN
constexpr int kFuncAttrMaxDynamicSharedSizeBytes = 8;    // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
constexpr int kPointerAttrMemoryType = 2;                // CU_POINTER_ATTRIBUTE_MEMORY_TYPE
constexpr unsigned kMemoryTypeHost = 1;                  // CU_MEMORYTYPE_HOST

struct DriverLibrary {
  CUresult (*Init)(unsigned flags);
  CUresult (*DriverGetVersion)(int*);
  CUresult (*GetErrorName)(CUresult, const char**);
  CUresult (*GetErrorString)(CUresult, const char**);
  CUresult (*DeviceGetCount)(int*);
  CUresult (*DeviceGet)(CUdevice*, int ordinal);
  CUresult (*DeviceGetName)(char*, int len, CUdevice);
  CUresult (*DeviceGetAttribute)(int*, int attribute, CUdevice);
  CUresult (*DevicePrimaryCtxRetain)(CUcontext*, CUdevice);
  CUresult (*CtxGetCurrent)(CUcontext*);
  CUresult (*CtxSetCurrent)(CUcontext);
  CUresult (*CtxGetDevice)(CUdevice*);
  CUresult (*CtxSynchronize)();
  CUresult (*ModuleLoadData)(CUmodule*, const void* image);
  CUresult (*ModuleUnload)(CUmodule);
  CUresult (*ModuleGetFunction)(CUfunction*, CUmodule, const char* name);
  CUresult (*FuncSetAttribute)(CUfunction, int attribute, int value);
  CUresult (*LaunchKernel)(CUfunction, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                           unsigned shared_bytes, CUstream, void** params, void** extra);
  CUresult (*MemAlloc)(CUdeviceptr*, size_t);
  CUresult (*MemFree)(CUdeviceptr);
  CUresult (*MemcpyHtoD)(CUdeviceptr, const void*, size_t);
  CUresult (*MemcpyDtoH)(void*, CUdeviceptr, size_t);
  CUresult (*PointerGetAttribute)(void* data, int attribute, CUdeviceptr);
  CUresult (*StreamSynchronize)(CUstream);
  CUresult (*EventCreate)(CUevent*, unsigned flags);
  CUresult (*EventDestroy)(CUevent);
  CUresult (*EventRecord)(CUevent, CUstream);
  CUresult (*EventSynchronize)(CUevent);
  CUresult (*EventElapsedTime)(float*, CUevent, CUevent);
  // Optional (drivers of CUDA 12.0 on): null where the driver lacks it.
  CUresult (*CtxGetId)(CUcontext, unsigned long long* id);
  // Optional (CUDA 11.2 on): stream-ordered allocation (split-KV's workspace);
  // without them launches do not split.
  CUresult (*MemAllocAsync)(CUdeviceptr*, size_t, CUstream);
  CUresult (*MemFreeAsync)(CUdeviceptr, CUstream);
};

// The driver, loaded and initialised (cuInit) on first use; nullptr when
// there is none, with the reason in *why: no libcuda.so.1, or cuInit failed.
const DriverLibrary* driver_library(std::string* why = nullptr);

// "CUDA_ERROR_OUT_OF_MEMORY (out of memory)".
std::string result_string(CUresult r);
// Throws Error "<what>: <result_string>" unless r is CUDA_SUCCESS.
void check(CUresult r, const std::string& what);

// The driver, or throws Error with the reason it is unavailable.
const DriverLibrary& driver();

// The context's id, unique for the process's life (cuCtxGetId): a context
// made at the address of a destroyed one, or device 0's primary context after
// a reset (same handle, new context), has another. 0 where the driver lacks it.
unsigned long long context_id(CUcontext ctx);

// Throws ArgumentError when the driver does not know `p` (a host pointer
// given for a device one), naming the tensor `name`.
void check_device_pointer(const char* name, const void* p);

// Makes a context current on the calling thread if none is: device 0's primary
// context (what the CUDA runtime does on first use). Returns the current one.
CUcontext ensure_context();

struct DeviceInfo {
  std::string name;  // "NVIDIA H100 80GB HBM3"
  int sm_major = 0, sm_minor = 0, sm_count = 0;
  int max_smem_optin = 0;  // bytes of shared memory a block may opt in to
};
// Device `ordinal`'s properties; throws Error when it cannot be queried.
DeviceInfo device_info(int ordinal);
// Devices the driver sees (0 when there is no driver).
int device_count();
// "13.0" from cuDriverGetVersion, "" without a driver.
std::string driver_version();

}  // namespace attngen::cuda
