#include "runtime/llvm/llvm_kernel.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "attngen_llvm_templates.hpp"
#include "runtime/core/byte_image.hpp"
#include "runtime/core/slow_notice.hpp"
#include "runtime/core/attn_params.hpp"

namespace attngen::llvmgen {
namespace {

constexpr char kMagic[8] = {'A', 'G', 'L', 'L', 'V', 'M', '0', '1'};

// Scratch of the items a thread runs, kept for its next call (64-byte aligned).
struct Scratch {
  void* p = nullptr;
  size_t bytes = 0;
  ~Scratch() { std::free(p); }
  void* get(size_t n) {
    if (n > bytes) {
      std::free(p);
      bytes = (n + 63) / 64 * 64;
      p = std::aligned_alloc(64, bytes);
      if (!p) {
        bytes = 0;
        throw Error("llvm kernel: cannot allocate " + std::to_string(n) + " bytes of scratch");
      }
    }
    return p;
  }
};

}  // namespace

std::vector<uint8_t> encode_object_image(const CpuObjectImage& m) {
  ImageWriter w(kMagic, sizeof kMagic);
  w.string(kTemplatesHash);
  w.string(m.symbol_prefix);
  w.string(m.description);
  w.bytes(m.object.data(), m.object.size());
  return w.take();
}

CpuObjectImage decode_object_image(const std::vector<uint8_t>& bytes) {
  ImageReader r(bytes, kMagic, sizeof kMagic, "llvm image");
  if (const std::string h = r.string(); h != kTemplatesHash)
    throw Error("llvm image: built from templates " + h + ", these are " + kTemplatesHash);
  CpuObjectImage m;
  m.symbol_prefix = r.string();
  m.description = r.string();
  m.object = r.bytes();
  if (!r.at_end()) throw Error("llvm image: trailing bytes");
  return m;
}

CpuObjectImage build_object(const Spec& spec, const TargetSpec& target, std::string* source) {
  const RenderedCpuKernel r = render_cpu_attention(spec, target);
  CpuObjectImage m;
  m.symbol_prefix = r.symbol_prefix;
  m.description = r.description;
  {
    SlowNotice notice("compiling " + r.symbol_prefix.substr(0, r.symbol_prefix.size() - 1) +
                          " with LLVM (cached afterwards)...",
                      std::chrono::milliseconds(100));
    m.object = compile_to_object(r.source, target);
  }
  if (source) *source = r.source;
  return m;
}

LlvmKernel::LlvmKernel(const Spec& spec, const std::string& target, const std::string& isa, CpuObjectImage image,
                       std::string source)
    : Kernel(spec, "llvm", target, isa), image_(std::move(image)), source_(std::move(source)) {
  loaded_ = std::make_unique<LoadedObject>(image_.object);
  items_ = reinterpret_cast<ItemsFn>(loaded_->function(image_.symbol_prefix + "items"));
  run_item_ = reinterpret_cast<RunItemFn>(loaded_->function(image_.symbol_prefix + "run_item"));
  scratch_bytes_ = reinterpret_cast<ScratchFn>(loaded_->function(image_.symbol_prefix + "scratch_bytes"))();
}

void LlvmKernel::run_items(const AttnParams& p, int64_t first, int64_t last) const {
  thread_local Scratch scratch;
  void* s = scratch.get(size_t(scratch_bytes_));
  for (int64_t i = first; i < last; ++i) run_item_(&p, i, s);
}

std::unique_ptr<CallPlan> LlvmKernel::plan_call(const BoundArgs& args, int parts) const {
  if (const CustomMask* c = spec().find_mask<CustomMask>(); c && c->format == CustomFormat::additive)
    check_additive_mask(args, spec().num_heads);
  // Kernel items (query tiles) grouped into chunks of consecutive tiles:
  // about 8 per part, so that threads that finish early take more.
  struct Plan final : CallPlan {
    const LlvmKernel* k;
    AttnParams p;
    int64_t tiles = 0, chunk = 1;
    size_t items() const override { return size_t((tiles + chunk - 1) / chunk); }
    void run_item(size_t item) const override {
      const int64_t first = int64_t(item) * chunk;
      k->run_items(p, first, std::min(tiles, first + chunk));
    }
  };
  auto plan = std::make_unique<Plan>();
  plan->k = this;
  plan->p = make_attn_params(spec(), args);
  plan->tiles = items_(&plan->p);
  const int64_t want = int64_t(parts) * 8;
  plan->chunk = std::max<int64_t>(1, (plan->tiles + want - 1) / want);
  return plan;
}

std::vector<Kernel::CodeBlob> LlvmKernel::code_blobs() const {
  std::vector<CodeBlob> blobs;
  if (!source_.empty()) blobs.push_back({"kernel.cpp", source_.data(), source_.size(), nullptr});
  blobs.push_back({"kernel.o", image_.object.data(), image_.object.size(), nullptr});
  return blobs;
}

std::vector<std::pair<std::string, std::string>> LlvmKernel::details() const {
  return {{"code", image_.description},
          {"object", std::to_string(image_.object.size()) + " bytes, entry points " + image_.symbol_prefix +
                         "{items,scratch_bytes,run_item}"}};
}

}  // namespace attngen::llvmgen
