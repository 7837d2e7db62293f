// A fake libcuda.so.1 for tests (tests/fake_cuda/fake_cuda.h): the driver
// entry points runtime/cuda/driver_library.cpp resolves, with the checks of
// the real driver that attngen relies on (a current context, known device
// pointers, in-bounds copies, the opt-in for large dynamic shared memory,
// cubins for the device's arch), so that a wrong call fails here as on a GPU.
// A cubin the fake NVRTC built for the host (FAKE_NVRTC_EMULATE) is a shared
// object that the launches run in the block emulator (tests/cuda_host).
#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "runtime/cuda/driver_library.hpp"
#include "tests/fake_cuda/fake_cuda.h"
#ifdef FAKE_CUDA_EMULATOR
#include "tests/cuda_host/emulator.hpp"
#endif

// The entry points take exactly the types attngen declares for them (UBSan's
// function check compares the two), handles being pointers to the fake's objects.
using attngen::cuda::CUcontext;
using attngen::cuda::CUdevice;
using attngen::cuda::CUdeviceptr;
using attngen::cuda::CUevent;
using attngen::cuda::CUfunction;
using attngen::cuda::CUmodule;
using attngen::cuda::CUresult;
using attngen::cuda::CUstream;

namespace {

// The CUresult values used here, as in cuda.h.
enum : int {
  kSuccess = 0,
  kInvalidValue = 1,
  kOutOfMemory = 2,
  kNotInitialized = 3,
  kNoDevice = 100,
  kInvalidDevice = 101,
  kInvalidImage = 200,
  kInvalidContext = 201,
  kNoBinaryForGpu = 209,
  kInvalidHandle = 400,
  kNotFound = 500,
  kNotReady = 600,
  kIllegalAddress = 700,
  kLaunchOutOfResources = 701,
  kLaunchFailed = 719,
  kUnknown = 999,
};

struct ErrorText {
  int code;
  const char* name;
  const char* text;
};
constexpr ErrorText kErrors[] = {
    {kSuccess, "CUDA_SUCCESS", "no error"},
    {kInvalidValue, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {kOutOfMemory, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {kNotInitialized, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {kNoDevice, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {kInvalidDevice, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {kInvalidImage, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
    {kInvalidContext, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {kNoBinaryForGpu, "CUDA_ERROR_NO_BINARY_FOR_GPU", "no kernel image is available for execution on the device"},
    {kInvalidHandle, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {kNotFound, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {kNotReady, "CUDA_ERROR_NOT_READY", "device not ready"},
    {kIllegalAddress, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered"},
    {kLaunchOutOfResources, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", "too many resources requested for launch"},
    {kLaunchFailed, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
    {kUnknown, "CUDA_ERROR_UNKNOWN", "unknown error"},
};

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

// FAKE_CUDA_FAIL=cuA[:code],cuB...: the code `fn` must fail with, or 0.
CUresult injected(const char* fn) {
  const char* v = std::getenv("FAKE_CUDA_FAIL");
  if (!v) return kSuccess;
  const std::string list = v;
  const size_t n = std::strlen(fn);
  for (size_t at = 0; at < list.size();) {
    size_t end = list.find(',', at);
    if (end == std::string::npos) end = list.size();
    const std::string item = list.substr(at, end - at);
    if (item.compare(0, n, fn) == 0 && (item.size() == n || item[n] == ':'))
      return item.size() == n ? kUnknown : std::atoi(item.c_str() + n + 1);
    at = end + 1;
  }
  return kSuccess;
}
#define FAIL_IF_INJECTED(fn) \
  if (const CUresult e_ = injected(fn)) return e_

struct Context {
  int device;
  unsigned long long id;  // cuCtxGetId; a reset makes a new context behind the same handle
};
// The kernel built for the host, loaded (FAKE_NVRTC_EMULATE): its entry
// points by name and its shared memory.
using EmulatedEntry = void (*(*)(const char*))(void**);
using EmulatedSharedMemory = unsigned char* (*)(size_t*);
struct Module {
  unsigned long long ctx_id;  // the context it was loaded in: gone with it
  std::string arch;
  std::vector<std::string> entries;
  void* host_kernel = nullptr;  // dlopen'ed, or null: launches are only recorded
  EmulatedEntry entry_of = nullptr;
  EmulatedSharedMemory shared_memory = nullptr;
};
struct Function {
  Module* module;
  std::string name;
  int max_dynamic_smem = 48 * 1024;
};
struct Event {
  bool recorded = false;
  std::chrono::steady_clock::time_point at;
};

// FAKE_CUDA_GUARD_PAGES=1: an allocation ends 0-255 bytes before a page that
// cannot be touched (its start is 256-byte aligned, as cudaMalloc's), so a
// kernel run in the emulator that reaches past a tensor's end faults there.
struct Mapping {
  void* base;
  size_t length;
};
void* guarded_alloc(size_t bytes, Mapping& m) {
  const size_t page = size_t(sysconf(_SC_PAGESIZE)), body = (bytes + 255) / 256 * 256;
  m.length = (body + page - 1) / page * page + page;
  m.base = mmap(nullptr, m.length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m.base == MAP_FAILED) return m.base = nullptr;
  auto* guard = static_cast<unsigned char*>(m.base) + m.length - page;
  mprotect(guard, page, PROT_NONE);
  return guard - body;
}

struct State {
  std::mutex mu;
  std::map<CUdeviceptr, Mapping> guarded;  // allocations with a guard page, by start
  bool initialised = false;
  Context primary{0, 1};
  unsigned long long next_context_id = 2;
  std::set<Module*> modules;
  std::vector<std::unique_ptr<Function>> functions;  // kept after their module's unload, as stale handles
  std::map<CUdeviceptr, size_t> allocations;  // base -> bytes
  FakeCudaLaunch last{}, before_last{};
  FakeCudaCounters counters{};
};
State& state() {
  static State* s = new State;  // never destroyed: kernels unload modules at exit
  return *s;
}
thread_local Context* current = nullptr;

int device_count() { return env_int("FAKE_CUDA_DEVICES", 1); }

// Whether [p, p + bytes) lies in one allocation (state().mu held).
bool in_allocation(CUdeviceptr p, size_t bytes) {
  auto& a = state().allocations;
  auto it = a.upper_bound(p);
  if (it == a.begin()) return false;
  --it;
  return p >= it->first && p - it->first + bytes <= it->second;
}

// "sm_90a" -> 90 and whether it is arch-specific; -1 when malformed.
int arch_number(const std::string& arch, bool* specific) {
  if (arch.compare(0, 3, "sm_") != 0) return -1;
  *specific = !arch.empty() && arch.back() == 'a';
  return std::atoi(arch.c_str() + 3);
}

// A launch of a kernel built for the host: every block run in the emulator;
// what stops it is printed and fails the launch as a faulting kernel would.
CUresult run_emulated(const Function& f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                      unsigned shared_bytes, void** params) {
#ifdef FAKE_CUDA_EMULATOR
  // One emulated launch at a time: a kernel's shared memory is one array of its build.
  static std::mutex emulated_launch_mu;
  const std::lock_guard<std::mutex> lock(emulated_launch_mu);
  const auto body = f.module->entry_of(f.name.c_str());
  if (!body) return kNotFound;
  size_t capacity = 0;
  unsigned char* smem = f.module->shared_memory(&capacity);
  agemu::take_launch_stats();
  const std::string error =
      agemu::launch(body, agemu::LaunchConfig{{gx, gy, gz}, {bx, by, bz}, shared_bytes}, params, smem, capacity);
  if (env_int("FAKE_CUDA_STATS", 0)) {
    const agemu::LaunchStats s = agemu::take_launch_stats();
    std::fprintf(stderr,
                 "fake CUDA driver: %s: ldmatrix %llu phases, %llu extra wavefronts; cp.async %llu phases, %llu extra "
                 "wavefronts; mma.sync %llu\n",
                 f.name.c_str(), (unsigned long long)s.ldmatrix_phases, (unsigned long long)s.ldmatrix_extra,
                 (unsigned long long)s.cp_async_phases, (unsigned long long)s.cp_async_extra,
                 (unsigned long long)s.mma_sync);
  }
  if (error.empty()) return kSuccess;
  std::fprintf(stderr, "fake CUDA driver: emulated launch of %s failed: %s\n", f.name.c_str(), error.c_str());
  return kLaunchFailed;
#else
  (void)f, (void)gx, (void)gy, (void)gz, (void)bx, (void)by, (void)bz, (void)shared_bytes, (void)params;
  std::fprintf(stderr, "fake CUDA driver: built without the emulator (tests/cuda_host)\n");
  return kLaunchFailed;
#endif
}

}  // namespace

extern "C" {

CUresult cuInit(unsigned flags) {
  FAIL_IF_INJECTED("cuInit");
  if (flags != 0) return kInvalidValue;
  if (device_count() <= 0) return kNoDevice;
  std::lock_guard<std::mutex> lock(state().mu);
  state().initialised = true;
  return kSuccess;
}

CUresult cuDriverGetVersion(int* v) {
  FAIL_IF_INJECTED("cuDriverGetVersion");
  if (!v) return kInvalidValue;
  *v = 13000;
  return kSuccess;
}

CUresult cuGetErrorName(CUresult r, const char** out) {
  for (const ErrorText& e : kErrors)
    if (e.code == r) return *out = e.name, kSuccess;
  *out = nullptr;
  return kInvalidValue;
}

CUresult cuGetErrorString(CUresult r, const char** out) {
  for (const ErrorText& e : kErrors)
    if (e.code == r) return *out = e.text, kSuccess;
  *out = nullptr;
  return kInvalidValue;
}

CUresult cuDeviceGetCount(int* n) {
  FAIL_IF_INJECTED("cuDeviceGetCount");
  *n = device_count();
  return kSuccess;
}

CUresult cuDeviceGet(CUdevice* dev, int ordinal) {
  FAIL_IF_INJECTED("cuDeviceGet");
  if (ordinal < 0 || ordinal >= device_count()) return kInvalidDevice;
  *dev = ordinal;
  return kSuccess;
}

CUresult cuDeviceGetName(char* name, int len, CUdevice dev) {
  FAIL_IF_INJECTED("cuDeviceGetName");
  if (dev < 0 || dev >= device_count() || len <= 0) return kInvalidValue;
  std::strncpy(name, "Fake CUDA device (attngen tests)", size_t(len) - 1);
  name[len - 1] = '\0';
  return kSuccess;
}

CUresult cuDeviceGetAttribute(int* out, int attribute, CUdevice dev) {
  FAIL_IF_INJECTED("cuDeviceGetAttribute");
  if (dev < 0 || dev >= device_count()) return kInvalidDevice;
  const int sm = env_int("FAKE_CUDA_SM", 90);
  switch (attribute) {
    case 16: *out = 132; return kSuccess;        // multiprocessors
    case 75: *out = sm / 10; return kSuccess;    // compute capability major
    case 76: *out = sm % 10; return kSuccess;    // minor
    case 97: *out = env_int("FAKE_CUDA_SMEM_OPTIN", 232448); return kSuccess;  // shared memory opt-in
    default: return kInvalidValue;
  }
}

CUresult cuDevicePrimaryCtxRetain(CUcontext* ctx, CUdevice dev) {
  FAIL_IF_INJECTED("cuDevicePrimaryCtxRetain");
  if (dev != 0) return kInvalidDevice;
  *ctx = reinterpret_cast<CUcontext>(&state().primary);
  return kSuccess;
}

CUresult cuCtxGetCurrent(CUcontext* ctx) {
  FAIL_IF_INJECTED("cuCtxGetCurrent");
  if (!state().initialised) return kNotInitialized;
  *ctx = reinterpret_cast<CUcontext>(current);
  return kSuccess;
}

CUresult cuCtxSetCurrent(CUcontext ctx) {
  FAIL_IF_INJECTED("cuCtxSetCurrent");
  if (ctx && reinterpret_cast<Context*>(ctx) != &state().primary) return kInvalidContext;
  current = reinterpret_cast<Context*>(ctx);
  return kSuccess;
}

CUresult cuCtxGetId(CUcontext ctx, unsigned long long* id) {
  FAIL_IF_INJECTED("cuCtxGetId");
  if (!ctx || reinterpret_cast<Context*>(ctx) != &state().primary) return kInvalidContext;
  std::lock_guard<std::mutex> lock(state().mu);
  *id = state().primary.id;
  return kSuccess;
}

// As the driver: the primary context is destroyed with every module loaded in
// it, and the next use makes a new one behind the same handle. The modules are
// kept allocated, so that no new one takes a stale handle's address.
CUresult cuDevicePrimaryCtxReset_v2(CUdevice dev) {
  FAIL_IF_INJECTED("cuDevicePrimaryCtxReset");
  if (dev != 0) return kInvalidDevice;
  std::lock_guard<std::mutex> lock(state().mu);
  auto& modules = state().modules;
  for (auto it = modules.begin(); it != modules.end();)
    it = (*it)->ctx_id == state().primary.id ? modules.erase(it) : std::next(it);
  state().primary.id = state().next_context_id++;
  return kSuccess;
}

CUresult cuCtxGetDevice(CUdevice* dev) {
  FAIL_IF_INJECTED("cuCtxGetDevice");
  if (!current) return kInvalidContext;
  *dev = current->device;
  return kSuccess;
}

CUresult cuCtxSynchronize() {
  FAIL_IF_INJECTED("cuCtxSynchronize");
  if (!current) return kInvalidContext;
  std::lock_guard<std::mutex> lock(state().mu);
  ++state().counters.synchronizations;
  return kSuccess;
}

CUresult cuModuleLoadData(CUmodule* module, const void* image) {
  FAIL_IF_INJECTED("cuModuleLoadData");
  if (!current) return kInvalidContext;
  if (!image) return kInvalidValue;
  const std::string text = static_cast<const char*>(image);  // the fake cubin is NUL-terminated
  if (text.compare(0, std::strlen(FAKE_CUBIN_MAGIC), FAKE_CUBIN_MAGIC) != 0) return kInvalidImage;
  auto* m = new Module;
  size_t at = std::strlen(FAKE_CUBIN_MAGIC);
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(at, end - at);
    if (line.compare(0, 5, "arch ") == 0) m->arch = line.substr(5);
    if (line.compare(0, 6, "entry ") == 0) m->entries.push_back(line.substr(6));
    if (line.compare(0, 9, "emulator ") == 0) {
      m->host_kernel = dlopen(line.substr(9).c_str(), RTLD_NOW | RTLD_LOCAL);
      if (m->host_kernel) {
        m->entry_of = reinterpret_cast<EmulatedEntry>(dlsym(m->host_kernel, "ag_emu_entry"));
        m->shared_memory = reinterpret_cast<EmulatedSharedMemory>(dlsym(m->host_kernel, "ag_emu_shared_memory"));
      }
      if (!m->entry_of || !m->shared_memory) {
        std::fprintf(stderr, "fake CUDA driver: cannot load the kernel built for the host: %s\n", dlerror());
        if (m->host_kernel) dlclose(m->host_kernel);
        delete m;
        return kInvalidImage;
      }
    }
    at = end + 1;
  }
  // As the driver: sm_XY runs on X.Z for Z >= Y; sm_XYa only on X.Y.
  bool specific = false;
  const int cubin_sm = arch_number(m->arch, &specific), device_sm = env_int("FAKE_CUDA_SM", 90);
  const bool runs = cubin_sm > 0 && cubin_sm / 10 == device_sm / 10 &&
                    (specific ? cubin_sm == device_sm : cubin_sm % 10 <= device_sm % 10);
  if (!runs) {
    if (m->host_kernel) dlclose(m->host_kernel);
    delete m;
    return cubin_sm > 0 ? kNoBinaryForGpu : kInvalidImage;
  }
  std::lock_guard<std::mutex> lock(state().mu);
  m->ctx_id = current->id;
  state().modules.insert(m);
  ++state().counters.module_loads;
  *module = reinterpret_cast<CUmodule>(m);
  return kSuccess;
}

CUresult cuModuleUnload(CUmodule module) {
  FAIL_IF_INJECTED("cuModuleUnload");
  std::lock_guard<std::mutex> lock(state().mu);
  auto* m = reinterpret_cast<Module*>(module);
  if (!state().modules.erase(m)) return kInvalidHandle;
  ++state().counters.module_unloads;
  if (m->host_kernel) dlclose(m->host_kernel);
  delete m;
  return kSuccess;
}

CUresult cuModuleGetFunction(CUfunction* function, CUmodule module, const char* name) {
  FAIL_IF_INJECTED("cuModuleGetFunction");
  std::lock_guard<std::mutex> lock(state().mu);
  auto* m = reinterpret_cast<Module*>(module);
  if (!state().modules.count(m)) return kInvalidHandle;
  for (const std::string& e : m->entries)
    if (e == name) {
      state().functions.push_back(std::make_unique<Function>(Function{m, e}));
      *function = reinterpret_cast<CUfunction>(state().functions.back().get());
      return kSuccess;
    }
  return kNotFound;
}

CUresult cuFuncSetAttribute(CUfunction function, int attribute, int value) {
  FAIL_IF_INJECTED("cuFuncSetAttribute");
  if (attribute != 8) return kInvalidValue;  // only CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
  if (value < 0 || value > env_int("FAKE_CUDA_SMEM_OPTIN", 232448)) return kInvalidValue;
  reinterpret_cast<Function*>(function)->max_dynamic_smem = value;
  return kSuccess;
}

CUresult cuLaunchKernel(CUfunction function, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shared_bytes, CUstream stream, void** params, void** extra) {
  FAIL_IF_INJECTED("cuLaunchKernel");
  if (!current) return kInvalidContext;
  auto* f = reinterpret_cast<Function*>(function);
  std::unique_lock<std::mutex> lock(state().mu);
  if (!f || !state().modules.count(f->module)) return kInvalidHandle;
  if (gx == 0 || gy == 0 || gz == 0 || gx > 0x7fffffffu || gy > 65535 || gz > 65535) return kInvalidValue;
  if (bx * by * bz == 0 || bx * by * bz > 1024) return kInvalidValue;
  if (int(shared_bytes) > f->max_dynamic_smem) return kInvalidValue;  // no opt-in for this much
  if (!params || !params[0] || extra) return kInvalidValue;
  const auto named = [&](const char* suffix) {
    const size_t n = std::strlen(suffix);
    return f->name.size() > n && f->name.compare(f->name.size() - n, n, suffix) == 0;
  };
  const bool merge = named("_merge"), split = named("_split");
  if ((merge || split) && (!params[1] || (merge && !params[2]))) return kInvalidValue;
  CUdeviceptr workspace = 0;
  if (merge || split) std::memcpy(&workspace, params[1], sizeof workspace);
  if (workspace && !in_allocation(workspace, 1)) return kInvalidValue;  // a freed or foreign workspace
  state().before_last = state().last;
  FakeCudaLaunch& l = state().last;
  l.workspace = workspace;
  l.splits = 0;
  if (merge) std::memcpy(&l.splits, params[2], sizeof l.splits);
  std::snprintf(l.entry, sizeof l.entry, "%s", f->name.c_str());
  std::snprintf(l.arch, sizeof l.arch, "%s", f->module->arch.c_str());
  l.grid[0] = gx, l.grid[1] = gy, l.grid[2] = gz;
  l.block[0] = bx, l.block[1] = by, l.block[2] = bz;
  l.shared_bytes = shared_bytes;
  l.stream = stream;
  std::memcpy(&l.params, params[0], sizeof l.params);
  ++state().counters.launches;
  if (!f->module->host_kernel) return kSuccess;
  lock.unlock();  // the emulated kernel runs as long as it takes
  return run_emulated(*f, gx, gy, gz, bx, by, bz, shared_bytes, params);
}

CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t bytes) {
  FAIL_IF_INJECTED("cuMemAlloc_v2");
  if (!current) return kInvalidContext;
  if (bytes == 0) return kInvalidValue;
  Mapping guarded{};
  void* m = env_int("FAKE_CUDA_GUARD_PAGES", 0) ? guarded_alloc(bytes, guarded) : std::malloc(bytes);
  if (!m) return kOutOfMemory;
  std::lock_guard<std::mutex> lock(state().mu);
  *p = CUdeviceptr(reinterpret_cast<uintptr_t>(m));
  if (guarded.base) state().guarded[*p] = guarded;
  state().allocations[*p] = bytes;
  ++state().counters.allocations;
  ++state().counters.live_allocations;
  return kSuccess;
}

CUresult cuMemFree_v2(CUdeviceptr p) {
  FAIL_IF_INJECTED("cuMemFree_v2");
  std::lock_guard<std::mutex> lock(state().mu);
  if (!state().allocations.erase(p)) return kInvalidValue;
  --state().counters.live_allocations;
  const auto g = state().guarded.find(p);
  if (g == state().guarded.end()) {
    std::free(reinterpret_cast<void*>(uintptr_t(p)));
  } else {
    munmap(g->second.base, g->second.length);
    state().guarded.erase(g);
  }
  return kSuccess;
}

// Stream-ordered: "device memory" is host memory and nothing runs, so at once.
CUresult cuMemAllocAsync(CUdeviceptr* p, size_t bytes, CUstream) {
  FAIL_IF_INJECTED("cuMemAllocAsync");
  return cuMemAlloc_v2(p, bytes);
}
CUresult cuMemFreeAsync(CUdeviceptr p, CUstream) {
  FAIL_IF_INJECTED("cuMemFreeAsync");
  return cuMemFree_v2(p);
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t bytes) {
  FAIL_IF_INJECTED("cuMemcpyHtoD_v2");
  std::lock_guard<std::mutex> lock(state().mu);
  if (!in_allocation(dst, bytes)) return kInvalidValue;
  std::memcpy(reinterpret_cast<void*>(uintptr_t(dst)), src, bytes);
  ++state().counters.copies_to_device;
  return kSuccess;
}

CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t bytes) {
  FAIL_IF_INJECTED("cuMemcpyDtoH_v2");
  std::lock_guard<std::mutex> lock(state().mu);
  if (!in_allocation(src, bytes)) return kInvalidValue;
  std::memcpy(dst, reinterpret_cast<const void*>(uintptr_t(src)), bytes);
  ++state().counters.copies_from_device;
  return kSuccess;
}

CUresult cuPointerGetAttribute(void* data, int attribute, CUdeviceptr p) {
  FAIL_IF_INJECTED("cuPointerGetAttribute");
  if (attribute != 2) return kInvalidValue;  // only CU_POINTER_ATTRIBUTE_MEMORY_TYPE
  std::lock_guard<std::mutex> lock(state().mu);
  // FAKE_CUDA_HOST_IS_DEVICE=1: any address is device memory (the emulator
  // reads host memory), for scripts whose tensors a CPU torch allocates.
  if (!in_allocation(p, 1) && !env_int("FAKE_CUDA_HOST_IS_DEVICE", 0))
    return kInvalidValue;                 // as the driver for memory it does not know
  *static_cast<unsigned*>(data) = 2;  // CU_MEMORYTYPE_DEVICE
  return kSuccess;
}

CUresult cuStreamSynchronize(CUstream) {
  FAIL_IF_INJECTED("cuStreamSynchronize");
  return current ? kSuccess : kInvalidContext;
}

CUresult cuEventCreate(CUevent* event, unsigned) {
  FAIL_IF_INJECTED("cuEventCreate");
  if (!current) return kInvalidContext;
  *event = reinterpret_cast<CUevent>(new Event);
  return kSuccess;
}

CUresult cuEventDestroy_v2(CUevent event) {
  FAIL_IF_INJECTED("cuEventDestroy_v2");
  delete reinterpret_cast<Event*>(event);
  return kSuccess;
}

CUresult cuEventRecord(CUevent event, CUstream) {
  FAIL_IF_INJECTED("cuEventRecord");
  auto* e = reinterpret_cast<Event*>(event);
  e->recorded = true;
  e->at = std::chrono::steady_clock::now();
  return kSuccess;
}

CUresult cuEventSynchronize(CUevent event) {
  FAIL_IF_INJECTED("cuEventSynchronize");
  return reinterpret_cast<Event*>(event)->recorded ? kSuccess : kInvalidHandle;
}

CUresult cuEventElapsedTime_v2(float* ms, CUevent start, CUevent stop) {
  FAIL_IF_INJECTED("cuEventElapsedTime_v2");
  const auto *a = reinterpret_cast<Event*>(start), *b = reinterpret_cast<Event*>(stop);
  if (!a->recorded || !b->recorded) return kInvalidHandle;
  *ms = std::chrono::duration<float, std::milli>(b->at - a->at).count();
  return kSuccess;
}

int fake_cuda_last_launch(FakeCudaLaunch* out) {
  std::lock_guard<std::mutex> lock(state().mu);
  if (state().counters.launches == 0) return 0;
  *out = state().last;
  return 1;
}

int fake_cuda_launch_before_last(FakeCudaLaunch* out) {
  std::lock_guard<std::mutex> lock(state().mu);
  if (state().counters.launches < 2) return 0;
  *out = state().before_last;
  return 1;
}

FakeCudaCounters fake_cuda_counters(void) {
  std::lock_guard<std::mutex> lock(state().mu);
  return state().counters;
}

}  // extern "C"
