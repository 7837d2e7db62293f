// The x86 backend's kernel: generated tile kernels plus the driver that runs
// them over the work items of a call.
#pragma once

#include <memory>
#include <vector>

#include "codegen/plan/plan.hpp"
#include "codegen/x86/cpu.hpp"
#include "codegen/x86/gemm_kernels.hpp"
#include "codegen/x86/softmax_kernel.hpp"
#include "runtime/core/backend.hpp"
#include "runtime/x86/mask_summary.hpp"

namespace attngen::x86 {

class X86Kernel final : public Kernel {
 public:
  explicit X86Kernel(const Spec& spec);

  std::unique_ptr<CallPlan> plan_call(const BoundArgs& args, int parts) const override;
  std::vector<CodeBlob> code_blobs() const override;
  // Every Q tile of one call, in (batch, KV head, head group, position) order.
  std::vector<WorkItem> work_items(const BoundArgs& args) const;
  const TilePlan& plan() const { return plan_; }

 private:
  struct TileContext;
  struct BlockPlan;
  struct Partials;
  void run_tile(const BoundArgs& a, const WorkItem& w, const MaskBlocks& mask_blocks, Partials* partials,
                void* workspace) const;
  void prepare_rows(TileContext& tc, int64_t* jmin, int64_t* jmax) const;
  BlockPlan classify_block(TileContext& tc, int64_t kb) const;
  void run_block(TileContext& tc, int64_t kb, const BlockPlan& bp) const;
  void finish_rows(TileContext& tc) const;
  int64_t row_head(const WorkItem& w, int64_t r) const;
  void pack_block(const BoundArgs& a, const WorkItem& w, int64_t kb, float* kt, float* v,
                  std::vector<float>* tmp) const;

  TilePlan plan_;
  QkKernel qk_;
  PvKernel pv_;  // f32 V: packed blocks, or f32 tensors in place
  // The decode path (tiles of few rows): K and V read in place, converted on
  // load. Null when the head dims do not allow it.
  std::unique_ptr<QkDirectKernel> qk_direct_;
  std::unique_ptr<PvKernel> pv_direct_;
  // [additive mask in the spec dtype rather than f32][partial]: an additive
  // mask may come in either type, and the softmax reads it directly.
  std::unique_ptr<SoftmaxKernel> softmax_[2][2];
};

}  // namespace attngen::x86
