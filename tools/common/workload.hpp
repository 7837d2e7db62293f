// Random attention problems for a spec (every run-time tensor it needs), and
// the comparison of a backend's output with the reference. Shared by the CLI
// (`verify`, `bench`), the benchmarks and the tests, so that all of them
// exercise the same inputs: NaN at padded positions, poisoned outputs, fully
// masked rows.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "codegen/spec/spec.hpp"
#include "runtime/core/args.hpp"
#include "runtime/core/backend.hpp"

namespace attngen {

enum class CustomMaskKind { random, keep_all, block_sparse };
enum class MaskShape { full, per_batch, shared };  // [B,Hq,Sq,Skv], [B,1,Sq,Skv], [Sq,Skv]

struct WorkloadOptions {
  int64_t batch = 1, sq = 64, skv = 64;
  uint64_t seed = 1;
  bool full_lengths = false;  // padding/prefix: every length equals the extent
  bool poison = true;         // NaN at padded key/query positions
  CustomMaskKind custom = CustomMaskKind::random;
  MaskShape mask_shape = MaskShape::full;
  int64_t block = 64;         // tile edge of a block-sparse custom mask
  bool additive_in_spec_dtype = false;  // additive custom mask in the spec dtype rather than f32
};

// Owns every tensor of one problem. Buffers are laid out per the spec layout.
class Workload {
 public:
  Workload(const Spec& spec, const WorkloadOptions& opt);

  const Spec& spec() const { return spec_; }
  const WorkloadOptions& options() const { return opt_; }
  // Arguments writing into this workload's own o/lse buffers.
  AttentionArgs args();
  // Same inputs; output into `o` (spec dtype, o_bytes() long) and `lse`.
  AttentionArgs args_into(void* o, float* lse);
  size_t o_bytes() const { return o_.size(); }
  size_t lse_count() const { return lse_.size(); }
  const std::vector<uint8_t>& o() const { return o_; }
  const std::vector<float>& lse() const { return lse_; }
  void poison_outputs();  // NaN everywhere in o and lse
  // Score elements that no mask removes (for honest FLOP counts), per head.
  int64_t allowed_elements();
  std::vector<int64_t> q_shape() const;
  std::vector<int64_t> kv_shape(int dim) const;
  std::vector<int64_t> o_shape() const;
  ElemType mask_type() const;  // element type of the custom mask tensor

 private:
  Spec spec_;
  WorkloadOptions opt_;
  std::vector<uint8_t> q_, k_, v_, o_, mask_;
  std::vector<float> lse_, slopes_;
  std::vector<int32_t> q_lens_, kv_lens_, q_doc_, kv_doc_, prefix_lens_;
  std::vector<int64_t> mask_shape_;
};

struct Comparison {
  double rel_err = 0;             // ||o - ref|| / ||ref|| over every element
  double max_abs_err = 0;
  int64_t nonfinite = 0;          // NaN/inf elements in o
  int64_t empty_rows = 0;         // rows the reference says are fully masked
  int64_t empty_rows_nonzero = 0; // of those, rows where o is not exactly 0
  double lse_max_abs_err = 0;     // over rows with a finite reference LSE
  int64_t lse_mismatched_empty = 0;  // -inf in one and not the other
  bool lse_compared = false;
  std::string summary() const;
};

// The reference's output on `w`'s inputs: O in the spec dtype and layout, and
// LSE f32 [B,Hq,Sq] (-inf on fully masked rows) whether or not the spec asks.
struct ReferenceOutputs {
  std::vector<uint8_t> o;
  std::vector<float> lse;
};
ReferenceOutputs reference_outputs(Workload& w, int threads = 0);

// Compares `o`/`lse` (lse may be null) with the reference: computed here, or given.
Comparison compare_with_reference(Workload& w, const std::vector<uint8_t>& o, const std::vector<float>* lse,
                                  int threads = 0);
Comparison compare_with_reference(const Workload& w, const std::vector<uint8_t>& o, const std::vector<float>* lse,
                                  const ReferenceOutputs& ref);

// Sizes come from command lines and file headers: a command checks them
// against the machine before allocating, and says what did not fit.
// Bytes of physical memory (0 when unknown).
uint64_t physical_memory_bytes();
// Bytes of a tensor of `shape` and `type`; nullopt beyond 2^64.
std::optional<uint64_t> tensor_bytes(const std::vector<int64_t>& shape, ElemType type);
// Throws Error, starting with `what`, when a Workload of `spec` and `opt`
// (inputs, outputs and the reference's copies) needs more bytes than the
// machine has; says how many and which extents to make smaller.
void check_workload_fits(const std::string& what, const Spec& spec, const WorkloadOptions& opt);

// Default tolerance on rel_err for a storage dtype (the issues' contract):
// f32 2e-5, f16 4e-3, bf16 1.6e-2.
double default_tolerance(ElemType dtype);

}  // namespace attngen
