// Spec -> CUDA source: the templates of templates/cuda (one kernel body per
// compute path) with the spec's masks and score mods rendered in as
// compile-time constants and small device functions. The host launches `entry` with one AttnParams argument
// (templates/common/attention_params.h) on the grid of launch_grid().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "codegen/spec/spec.hpp"

namespace attngen::cuda {

// A GPU architecture to compile for: sm_80, sm_86, sm_89, sm_90, sm_90a, ...
struct Arch {
  int sm = 80;         // compute capability * 10 + minor
  bool accel = false;  // the "a" variants (sm_90a): arch-specific features
  std::string name() const;  // "sm_90a"
};
// "sm_80", "sm_90a" (also "80", "90a"); throws Error naming the value otherwise.
Arch parse_arch(const std::string& text);

struct LaunchShape {
  int threads = 0;     // per block
  int block_m = 0;     // query rows per block
  int block_n = 0;     // keys per key block
  int smem_bytes = 0;  // dynamic shared memory per block
  int key_warps = 1;   // key blocks a step walks (key-split warps: one a warp)
  int sm_blocks = 1;   // blocks an SM holds for split-KV to count on (f32: up to 4; key-split warps: 2)
};

// The grid of blocks of one launch: (ceil(Sq / block_m), Hq, B), or for GQA
// where that needs fewer blocks (Sq short next to block_m, decoding), packed:
// (ceil(Sq * G / block_m), Hkv, B), each block serving the G query heads of
// one KV head (its rows are (query, head) pairs, K and V read once for the
// group). The kernel tells the two apart by gridDim.y (attention_common.cuh,
// AgEntry).
struct LaunchGrid {
  int64_t x = 0, y = 0, z = 0;
  bool gqa_packed = false;
};
LaunchGrid launch_grid(const Spec& spec, const LaunchShape& launch, int64_t batch, int64_t sq);

// Split-KV: into how many shares a launch splits each tile's key blocks
// (1: none). Where the grid's blocks leave SMs idle (decoding: B x Hkv blocks
// on a GPU of 132 SMs, each holding launch.sm_blocks of them), splitting the
// keys fills them; each share keeps at least kMinKeyBlocksPerSplit steps of
// launch.key_warps key blocks, at most kMaxKvSplits shares. A
// tile's key blocks are the Skv extent's, or fewer where the index masks
// bound a row's keys (a sliding window, a chunk: allowed_width_bound). The
// launch's grid z becomes B x splits, each split stores partial O and LSE
// (f32, split_workspace_bytes) through `split_entry`, and `merge_entry` (a block of
// kMergeThreads threads per (query, query head, batch entry): grid (Sq, Hq,
// B)) merges them into O and the LSE.
constexpr int kMaxKvSplits = 32;
constexpr int kMinKeyBlocksPerSplit = 4;
constexpr int kMergeThreads = 128;
int kv_splits(const Spec& spec, const LaunchShape& launch, const LaunchGrid& grid, int64_t sq, int64_t skv,
              int sm_count);
int64_t split_workspace_bytes(const Spec& spec, int splits, int64_t batch, int64_t sq);

// The entry points beside the kernel named `entry` (attention_entries.cu).
inline std::string split_entry_of(const std::string& entry) { return entry + "_split"; }
inline std::string merge_entry_of(const std::string& entry) { return entry + "_merge"; }
// The rendered source holds all three; compiled with kKernelModule it emits
// the kernel alone, with kSplitModule the split instance and the merge: two
// modules, compiled side by side.
inline constexpr const char* kKernelModule = "-DAG_MODULE=1";
inline constexpr const char* kSplitModule = "-DAG_MODULE=2";

struct RenderedKernel {
  std::string source;                // complete CUDA C++ text for NVRTC (no includes)
  std::string entry;                 // extern "C" kernel name (argument: AttnParams)
  std::string split_entry;           // split-KV's share of the keys (AttnParams, float* workspace)
  std::string merge_entry;           // split-KV's merge (AttnParams, const float* workspace, int splits)
  LaunchShape launch;
  std::vector<std::string> options;  // NVRTC options besides the architecture
  std::string description;           // one line: tile shape and choices, for dumps and info
};

// The tile shape is chosen per spec (render.cpp, tiles_for). A schedule
// overrides it for f16/bf16: MxN (M 64 or 128 query rows, N 32 or 64 keys),
// optionally MxNwW (W warps of 16 or 32 rows each), MxNwg[p] / 128xNws[p]
// (sm_90a's warpgroup MMA), or MxNkW (decoding: W warps splitting the keys of
// M rows). It comes from ATTNGEN_CUDA_TILE, or from the compile option
// cuda_tile, which then names it in errors (`source`).
struct Schedule {
  std::string tile;                          // "" = the per-spec default
  std::string source = "ATTNGEN_CUDA_TILE";  // what set it, for messages
  static Schedule from_env();                // ATTNGEN_CUDA_TILE's value, read now
  // The schedule a backend target names (what schedule_tag appended to it).
  static Schedule of_target(const std::string& target, std::string source);
};
// "" or "/tile-MxN[wW|wg|kW|...]" (one spelling per schedule), part of the
// backend's target and so of every cache key. Throws Error naming the source
// for any other value (render_attention: also for a wg schedule with an arch
// other than sm_90a, or shared memory past the arch's).
std::string schedule_tag(const Schedule& schedule = Schedule::from_env());

// Empty when the CUDA template covers `spec`; otherwise why not.
std::string unsupported_reason(const Spec& spec);
// Throws Error for an unsupported spec.
RenderedKernel render_attention(const Spec& spec, const Arch& arch, const Schedule& schedule = Schedule::from_env());

// The merge of partial attention states on the GPU (attngen_merge_states_cuda):
// templates/common/merge_params.h, ptx.cuh's conversions and
// templates/cuda/merge_states.cu; one module for every dtype, shape and part
// count up to AG_MERGE_MAX_PARTS. `entry` takes one AgMergeParams by value, a
// block of kMergeStatesThreads threads per kMergeStatesThreads / 32 rows.
constexpr const char* kMergeStatesEntry = "attngen_merge_partial_states";  // not the C API's name
constexpr int kMergeStatesThreads = 128;
struct RenderedModule {
  std::string source, entry;
  std::vector<std::string> options;
};
RenderedModule render_merge_states(const Arch& arch);

}  // namespace attngen::cuda
