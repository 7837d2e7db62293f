// The x86 backend's kernel: generated tile kernels plus the driver that runs
// them over the work items of a call.
#pragma once

#include <memory>
#include <vector>

#include "codegen/plan/plan.hpp"
#include "codegen/x86/cpu.hpp"
#include "codegen/x86/gemm_kernels.hpp"
#include "codegen/x86/lanes_kernels.hpp"
#include "codegen/x86/softmax_kernel.hpp"
#include "runtime/core/backend.hpp"
#include "runtime/x86/code_image.hpp"
#include "runtime/x86/mask_summary.hpp"

namespace attngen::x86 {

class X86Kernel final : public Kernel {
 public:
  // Generates the code for `spec` on this CPU.
  explicit X86Kernel(const Spec& spec);
  // Adopts code mapped from a serialised image (the disk cache).
  X86Kernel(const Spec& spec, CodeSet code);

  std::vector<uint8_t> serialize() const override { return encode_image(code_, plan_.describe()); }

  std::unique_ptr<CallPlan> plan_call(const BoundArgs& args, int parts) const override;
  std::vector<CodeBlob> code_blobs() const override;
  // Every Q tile of one call, in (batch, KV head, head group, position) order.
  std::vector<WorkItem> work_items(const BoundArgs& args) const;
  const TilePlan& plan() const { return plan_; }
  // The plan this machine's generators follow for `spec` (ISA, microtile, bf16 path).
  static TilePlan host_plan(const Spec& spec);

 private:
  struct TileContext;
  struct BlockPlan;
  struct Partials;
  bool direct_tile(const BoundArgs& a, const WorkItem& w) const;
  int lane_rows(const BoundArgs& a, const WorkItem& w) const;
  int64_t chunk_blocks() const;
  size_t group_size(const BoundArgs& a, const WorkItem* items, size_t n) const;
  void run_tiles(const BoundArgs& a, const WorkItem* items, size_t n, const MaskBlocks& mask_blocks,
                 Partials* partials, void* workspace) const;
  void end_tile(TileContext& tc, Partials* partials) const;
  void prepare_rows(TileContext& tc, int64_t* jmin, int64_t* jmax) const;
  BlockPlan classify_block(TileContext& tc, int64_t kb) const;
  void run_block(TileContext& tc, int64_t kb, const BlockPlan& bp) const;
  void run_block_lanes(TileContext& tc, int64_t kb, const BlockPlan& bp) const;
  void softmax_block(TileContext& tc, int64_t kb, const BlockPlan& bp) const;
  void finish_rows(TileContext& tc) const;
  int64_t row_head(const WorkItem& w, int64_t r) const;
  static int softmax_slot(bool additive_in_dtype, bool partial);
  static bool additive_in_dtype_too(const Spec& spec);
  void pack_block(const BoundArgs& a, const WorkItem& w, int64_t kb, char* kt, char* v,
                  std::vector<float>* tmp) const;
  static bool direct_path_possible(const Spec& spec, const TilePlan& plan);

  TilePlan plan_;
  // Entry points by slot: Q.K^T and P.V (f32 V: packed blocks, or f32 tensors
  // in place); the decode path's kernels that read K and V in place (absent
  // when the head dims do not allow it); the softmax [full|partial] x
  // [additive mask in f32 | in the spec dtype].
  CodeSet code_;
};

}  // namespace attngen::x86
