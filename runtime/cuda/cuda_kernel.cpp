#include "runtime/cuda/cuda_kernel.hpp"

#include <tuple>

#include "attngen_cuda_templates.hpp"
#include "runtime/core/byte_image.hpp"
#include "runtime/core/error.hpp"
#include "runtime/core/attn_params.hpp"
#include "runtime/cuda/nvrtc_compiler.hpp"

namespace attngen::cuda {
namespace {

constexpr char kMagic[8] = {'A', 'G', 'C', 'U', 'B', 'I', 'N', '4'};  // 3: two cubins; 4: key warps, SM blocks

}  // namespace

std::vector<uint8_t> encode_cubin_image(const CubinImage& m) {
  ImageWriter w(kMagic, sizeof kMagic);
  w.string(kTemplatesHash);
  w.string(m.arch);
  w.string(m.entry);
  w.u32(uint32_t(m.launch.threads));
  w.u32(uint32_t(m.launch.block_m));
  w.u32(uint32_t(m.launch.block_n));
  w.u32(uint32_t(m.launch.smem_bytes));
  w.u32(uint32_t(m.launch.key_warps));
  w.u32(uint32_t(m.launch.sm_blocks));
  w.string(m.description);
  w.string(m.ptxas_log);
  w.bytes(m.cubin.data(), m.cubin.size());
  w.bytes(m.split_cubin.data(), m.split_cubin.size());
  return w.take();
}

CubinImage decode_cubin_image(const std::vector<uint8_t>& bytes) {
  ImageReader r(bytes, kMagic, sizeof kMagic, "cuda image");
  if (const std::string h = r.string(); h != kTemplatesHash)
    throw Error("cuda image: built from templates " + h + ", these are " + kTemplatesHash);
  CubinImage m;
  m.arch = r.string();
  m.entry = r.string();
  m.launch.threads = int(r.u32());
  m.launch.block_m = int(r.u32());
  m.launch.block_n = int(r.u32());
  m.launch.smem_bytes = int(r.u32());
  m.launch.key_warps = int(r.u32());
  m.launch.sm_blocks = int(r.u32());
  m.description = r.string();
  m.ptxas_log = r.string();
  m.cubin = r.bytes();
  m.split_cubin = r.bytes();
  if (!r.at_end()) throw Error("cuda image: trailing bytes");
  if (m.cubin.empty() || m.split_cubin.empty() || m.entry.empty() || m.launch.threads <= 0 || m.launch.block_m <= 0 ||
      m.launch.block_n <= 0 || m.launch.smem_bytes < 0 || m.launch.key_warps <= 0 || m.launch.sm_blocks <= 0)
    throw Error("cuda image: incomplete");
  return m;
}

CubinImage build_cubin(const Spec& spec, const Arch& arch, const Schedule& schedule, const std::string& what,
                       std::string* source, std::string* ptx) {
  const RenderedKernel r = render_attention(spec, arch, schedule);
  std::vector<std::string> options = r.options;
  options.push_back("--ptxas-options=-v");  // the resource report, in the program log
  std::vector<std::string> split_options = options;
  options.push_back(kKernelModule);
  split_options.push_back(kSplitModule);
  std::vector<NvrtcOutput> out =
      nvrtc_compile_each(r.source, r.entry + ".cu", {options, split_options}, arch.name(), what);
  if (source) *source = r.source;
  if (ptx && !(out[0].ptx.empty() && out[1].ptx.empty()))
    *ptx = out[0].ptx + "\n// ---- the split-KV instance and the merge (" + kSplitModule + ")\n" + out[1].ptx;
  return CubinImage{arch.name(), r.entry, r.launch, r.description, out[0].log + "\n" + out[1].log,
                    std::move(out[0].cubin), std::move(out[1].cubin)};
}

CudaKernel::CudaKernel(const Spec& spec, const std::string& target, CubinImage image)
    : Kernel(spec, "cuda", target, image.arch), image_(std::move(image)),
      report_(parse_ptxas_report(image_.ptxas_log, image_.entry)),
      split_report_(parse_ptxas_report(image_.ptxas_log, split_entry_of(image_.entry))),
      merge_report_(parse_ptxas_report(image_.ptxas_log, merge_entry_of(image_.entry))) {}

CudaKernel::~CudaKernel() {
  // Best effort: a context destroyed before the kernel took its modules along.
  if (const DriverLibrary* d = driver_library())
    for (const Loaded& l : loaded_) d->ModuleUnload(l.module), d->ModuleUnload(l.split_module);
}

CUmodule CudaKernel::load_module(const std::vector<uint8_t>& cubin) const {
  const DriverLibrary& d = driver();
  CUmodule mod = nullptr;
  if (const CUresult r = d.ModuleLoadData(&mod, cubin.data()); r != 0) {
    std::string device;
    CUdevice dev = 0;
    if (d.CtxGetDevice(&dev) == 0) {
      try {
        const DeviceInfo info = device_info(dev);
        device = " on " + info.name + " (sm_" + std::to_string(info.sm_major) + std::to_string(info.sm_minor) + ")";
      } catch (const Error&) {
      }
    }
    throw Error("cuda: cannot load kernel " + key() + " compiled for " + image_.arch + device + ": " +
                result_string(r) + (r == 209 ? " (compile it for this device's arch)" : ""));
  }
  return mod;
}

CudaKernel::Loaded CudaKernel::function_in(CUcontext ctx) const {
  const unsigned long long id = context_id(ctx);
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = loaded_.begin(); it != loaded_.end(); ++it) {
    if (it->ctx != ctx) continue;
    if (it->ctx_id == id) return *it;
    loaded_.erase(it);  // its context was destroyed, and its modules with it: load again
    break;
  }
  const DriverLibrary& d = driver();
  const CUmodule mod = load_module(image_.cubin);
  CUmodule split_mod = nullptr;
  try {
    split_mod = load_module(image_.split_cubin);
  } catch (...) {
    d.ModuleUnload(mod);
    throw;
  }
  const auto unload = [&] { d.ModuleUnload(mod), d.ModuleUnload(split_mod); };
  CUfunction f = nullptr, split = nullptr, merge = nullptr;
  const std::string split_entry = split_entry_of(image_.entry), merge_entry = merge_entry_of(image_.entry);
  for (auto [fn, m, name] : {std::tuple{&f, mod, &image_.entry}, std::tuple{&split, split_mod, &split_entry},
                             std::tuple{&merge, split_mod, &merge_entry}})
    if (const CUresult r = d.ModuleGetFunction(fn, m, name->c_str()); r != 0) {
      unload();
      check(r, "cuda: kernel entry '" + *name + "'");
    }
  int sm_count = 0;
  CUdevice dev = 0;
  if (d.CtxGetDevice(&dev) != 0 || d.DeviceGetAttribute(&sm_count, kAttrMultiprocessorCount, dev) != 0)
    sm_count = 0;  // unknown: launches do not split
  if (image_.launch.smem_bytes > 48 * 1024) {
    // Above 48 KiB a kernel must opt in to its dynamic shared memory.
    if (const CUresult r = d.FuncSetAttribute(f, kFuncAttrMaxDynamicSharedSizeBytes, image_.launch.smem_bytes); r != 0) {
      unload();
      throw Error("cuda: kernel " + key() + " needs " + std::to_string(image_.launch.smem_bytes) +
                  " bytes of dynamic shared memory per block, which this device refuses: " + result_string(r));
    }
  }
  if (image_.launch.smem_bytes > 48 * 1024 &&
      d.FuncSetAttribute(split, kFuncAttrMaxDynamicSharedSizeBytes, image_.launch.smem_bytes) != 0)
    split = nullptr;  // launches do not split
  loaded_.push_back(Loaded{ctx, id, mod, split_mod, f, split, merge, sm_count});
  return loaded_.back();
}

void CudaKernel::execute(const BoundArgs& args, const RunOptions& opt) const {
  const Spec& s = spec();
  if (args.batch == 0 || args.sq == 0) return;  // nothing to compute (an empty grid is a launch error)
  if (args.batch > 65535 || s.num_heads > 65535)
    throw Error("cuda: B = " + std::to_string(args.batch) + " and num_heads = " + std::to_string(s.num_heads) +
                " must each be at most 65535 (grid z and y)");
  const DriverLibrary& d = driver();
  const CUcontext ctx = ensure_context();
  // Every tensor must be memory the device can address: a host pointer given
  // for a device one is named here rather than faulting in the kernel.
  const AttentionArgs& t = args.t;
  const std::pair<const char*, const TensorRef*> tensors[] = {
      {"q", &t.q},           {"k", &t.k},         {"v", &t.v},           {"o", &t.o},
      {"lse", &t.lse},       {"q_lens", &t.q_lens}, {"kv_lens", &t.kv_lens}, {"q_doc", &t.q_doc},
      {"kv_doc", &t.kv_doc}, {"mask", &t.mask},   {"alibi_slopes", &t.alibi_slopes}, {"prefix_lens", &t.prefix_lens}};
  for (const auto& [name, tensor] : tensors)
    if (tensor->data) check_device_pointer(name, tensor->data);
  const Loaded fn = function_in(ctx);
  AttnParams p = make_attn_params(s, args);
  const LaunchGrid grid = launch_grid(s, image_.launch, args.batch, args.sq);
  if (grid.x > INT32_MAX) throw Error("cuda: Sq = " + std::to_string(args.sq) + " needs more than 2^31 blocks");
  const CUstream stream = static_cast<CUstream>(opt.stream);
  int splits =
      fn.split && d.MemAllocAsync && d.MemFreeAsync ? kv_splits(s, image_.launch, grid, args.sq, args.skv, fn.sm_count) : 1;
  CUdeviceptr part = 0;  // split-KV's partial results, freed in stream order after the merge
  // Without the workspace (no memory pool on this device, out of memory) the
  // launch does not split: slower on these shapes, the same results.
  if (splits > 1 && d.MemAllocAsync(&part, size_t(split_workspace_bytes(s, splits, args.batch, args.sq)), stream) != 0)
    splits = 1, part = 0;
  void* params[] = {&p, &part};
  const CUresult launched = d.LaunchKernel(splits > 1 ? fn.split : fn.function, unsigned(grid.x), unsigned(grid.y),
                                           unsigned(grid.z * splits),
                                           unsigned(image_.launch.threads), 1, 1, unsigned(image_.launch.smem_bytes),
                                           stream, params, nullptr);
  if (splits > 1 && launched == 0) {
    int n = splits;
    void* merge_params[] = {&p, &part, &n};
    const CUresult merged = d.LaunchKernel(fn.merge, unsigned(args.sq), unsigned(s.num_heads), unsigned(args.batch),
                                           kMergeThreads, 1, 1, 0, stream, merge_params, nullptr);
    d.MemFreeAsync(part, stream);
    check(merged, "cuda: launching the split-KV merge of kernel " + key());
  } else if (splits > 1) {
    d.MemFreeAsync(part, stream);
  }
  check(launched, "cuda: launching kernel " + key());
}

std::unique_ptr<CallPlan> CudaKernel::plan_call(const BoundArgs&, int) const {
  throw Error("prepare: cuda kernels run as one launch on a stream (attngen_kernel_run_cuda); "
              "work items are for CPU thread pools");
}

std::vector<Kernel::CodeBlob> CudaKernel::code_blobs() const {
  // A debugging aid, so made on request: render again and compile once more
  // for the PTX (a kernel loaded from the disk cache keeps only its cubin).
  std::call_once(dump_once_, [this] {
    try {
      // The kernel's schedule, from its target, whatever the environment says now.
      build_cubin(spec(), parse_arch(image_.arch), Schedule::of_target(target(), "the kernel's schedule"),
                  "cuda kernel " + key() + " again for ATTNGEN_DUMP", &dump_source_, &dump_ptx_);
    } catch (const Error& e) {
      dump_ptx_ = std::string("// ") + e.what() + "\n";
    }
  });
  return {{"cu", dump_source_.data(), dump_source_.size(), nullptr},
          {"ptx", dump_ptx_.data(), dump_ptx_.size(), nullptr},
          {"ptxas.txt", image_.ptxas_log.data(), image_.ptxas_log.size(), nullptr},
          {"cubin", image_.cubin.data(), image_.cubin.size(), nullptr},
          {"split.cubin", image_.split_cubin.data(), image_.split_cubin.size(), nullptr}};
}

std::vector<std::pair<std::string, std::string>> CudaKernel::details() const {
  const LaunchShape& l = image_.launch;
  return {{"arch", image_.arch},
          {"launch", "grid (ceil(Sq / " + std::to_string(l.block_m) + "), Hq, B)" +
                         (spec().group_size() > 1
                              ? " or, GQA-packed where fewer, (ceil(Sq * " + std::to_string(spec().group_size()) +
                                    " / " + std::to_string(l.block_m) + "), Hkv, B)"
                              : std::string()) +
                         " of " + std::to_string(l.threads) +
                         " threads, " + std::to_string(l.smem_bytes) + " B dynamic shared memory, entry " +
                         image_.entry + "; where the blocks leave SMs idle" +
                         (l.sm_blocks > 1 ? " (" + std::to_string(l.sm_blocks) + " an SM)" : std::string()) +
                         ", z is B x key splits (at least " + std::to_string(kMinKeyBlocksPerSplit * l.key_warps) +
                         " blocks of " + std::to_string(l.block_n) + " keys each) for " + split_entry_of(image_.entry) +
                         ", merged by " + merge_entry_of(image_.entry)},
          {"resources", report_.describe()},
          {"split-KV", split_report_.describe()},
          {"merge", merge_report_.describe()},
          {"render", image_.description}};
}

}  // namespace attngen::cuda
