// A compiled llvm-backend kernel: the relocatable object clang/LLVM built from
// the rendered template, linked into this process, and its three entry points
// (codegen/llvm/render.hpp). The object is the disk cache's image and what
// `attngen compile --emit` writes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "codegen/llvm/render.hpp"
#include "runtime/core/backend.hpp"
#include "runtime/llvm/loaded_object.hpp"
#include "templates/common/attention_params.h"

namespace attngen::llvmgen {

// What a later process needs to run a compiled kernel.
struct CpuObjectImage {
  std::string symbol_prefix;
  std::string description;
  std::vector<uint8_t> object;  // ELF relocatable
};
// Bytes for the disk cache; decode throws Error for anything else.
std::vector<uint8_t> encode_object_image(const CpuObjectImage& image);
CpuObjectImage decode_object_image(const std::vector<uint8_t>& bytes);

// Renders and compiles `spec` for `target`; the source goes to *source when given.
CpuObjectImage build_object(const Spec& spec, const TargetSpec& target, std::string* source = nullptr);

class LlvmKernel final : public Kernel {
 public:
  // `target`: the backend's isa() (in the key); `isa`: what the code uses.
  LlvmKernel(const Spec& spec, const std::string& target, const std::string& isa, CpuObjectImage image,
             std::string source = "");

  std::unique_ptr<CallPlan> plan_call(const BoundArgs& args, int parts) const override;
  std::vector<uint8_t> serialize() const override { return encode_object_image(image_); }
  std::vector<CodeBlob> code_blobs() const override;
  std::vector<std::pair<std::string, std::string>> details() const override;

  using ItemsFn = int64_t (*)(const AttnParams*);
  using ScratchFn = int64_t (*)(void);
  using RunItemFn = void (*)(const AttnParams*, int64_t, void*);
  // Runs kernel items [first, last) with scratch for one item.
  void run_items(const AttnParams& p, int64_t first, int64_t last) const;
  int64_t items(const AttnParams& p) const { return items_(&p); }

 private:
  CpuObjectImage image_;
  std::string source_;  // rendered C++ (empty for a kernel loaded from the cache)
  std::unique_ptr<LoadedObject> loaded_;
  ItemsFn items_ = nullptr;
  RunItemFn run_item_ = nullptr;
  int64_t scratch_bytes_ = 0;
};

}  // namespace attngen::llvmgen
