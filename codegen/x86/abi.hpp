// The calling convention between the x86 driver (runtime/x86) and the
// generated kernels: each kernel takes one pointer to its argument struct.
// Field offsets are read by the generators with offsetof, so the two sides
// cannot drift apart.
#pragma once

#include <cstddef>
#include <cstdint>

namespace attngen::x86 {

// Fixed tile geometry of the generated kernels; the rest is per ISA in
// TilePlan (codegen/plan).
constexpr int kBlockKeys = 64;  // keys per K/V block: one S row is 64 floats

// What the masked softmax needs to know about one row of a Q tile.
struct RowInfo {
  int32_t lo, hi;        // allowed key interval of the index masks (empty when lo > hi)
  float ipos;            // i + Skv - Sq (ALiBi distance origin)
  float slope;           // ALiBi slope of this row's head
  int32_t qdoc;          // document id of this query row
  int32_t pad_;
  const void* mask_row;  // custom mask row at key 0 (bool bytes or additive values)
};
static_assert(sizeof(RowInfo) == 32);

// S = Q . K^T for one (Q tile, K block): q [rows][qk_steps] f32 (pre-scaled)
// or bf16 pairs (scaled by the kernel), kt the block in groups of the
// microtile's width of keys, each [qk_steps][width] (convert.hpp,
// packed_index), s [rows][64] f32.
struct QkArgs {
  const float* q;
  const float* kt;
  float* s;
  int64_t rows;
};

// Scores -> score mods -> masks -> online softmax. Overwrites s with P,
// updates the running max m and sum l, writes the rescale factor alpha.
struct SoftmaxArgs {
  float* s;
  const RowInfo* rows;
  float* m;
  float* l;
  float* alpha;
  int64_t nrows;
  int32_t j0;              // first key of the block
  float j0f;
  const int32_t* kv_doc;   // document ids of the block's 64 keys
  int64_t mask_col_bytes;  // byte offset of the block's first key in mask rows
  // Keys of the block inside the tensors (AVX-512 partial variant: mask and
  // document ids of keys past them are not read; their scores are masked).
  int64_t nkeys;
};

// S[rows][64] = Q . K^T reading K rows in place (the decode path: tiles of
// few rows, where packing K would cost more than using it): q [rows][D] f32
// (pre-scaled), or on the vdpbf16ps plan [rows][qk_steps] bf16 pairs
// (unscaled), k = key rows of D elements in the storage dtype, k_stride bytes apart. Only
// keys [0, nkeys) are read; the scores of the others are 0 (the softmax masks them).
// Each key row is also prefetched (into L2) at `prefetch` bytes past it: the
// next block's rows, so that DRAM latency overlaps this block's work.
struct QkDirectArgs {
  const float* q;
  const void* k;
  int64_t k_stride;
  float* s;
  int64_t rows;
  int64_t nkeys;
  int64_t prefetch;
};

// O = alpha * O + P . V: p [rows][64] (f32, or bf16 pairs in the first half
// of each row), v = the V block in column chunks of the microtile's width,
// v_chunk bytes apart, each of pv_steps rows v_stride bytes apart (a packed
// block, or the tensor itself), o [rows][dv_padded] f32. Only steps [0, nsteps)
// are read: on the decode path, keys at or past kv_len have P = 0 (there a
// step is a key, also on the vdpbf16ps plan, whose kernel pairs the keys).
// A kernel generated to read V in place also prefetches each V line at
// `prefetch` bytes past it (the next block), like QkDirectArgs.
struct PvArgs {
  const float* p;
  const void* v;
  int64_t v_stride;
  int64_t v_chunk;
  float* o;
  const float* alpha;
  int64_t rows;
  int64_t nsteps;
  int64_t prefetch;
};

// The lanes path (AVX-512, tiles of a few to a few dozen rows): a tile's rows
// lie in vector lanes, in passes of R = 16 or 32 rows (one or two vectors),
// so each K and V element is loaded once per pass (broadcast to all of its
// rows) instead of once per 4 rows. Rows past the tile's are zeros in qt and
// are never output. Scratch sizes and layouts: codegen/x86/lanes_kernels.
//
// S = Q . K^T: qt [passes][D][R] (Q transposed, pre-scaled), k = 64 key rows
// of D elements in the storage dtype, k_stride bytes apart (all readable: the
// driver copies a block that ends past kv_len, with zero rows), s
// [passes * R][64]. Each key row is also prefetched (into L2) at `prefetch`
// bytes past it, like QkDirectArgs.
struct QkLanesArgs {
  const float* qt;
  const void* k;
  int64_t k_stride;
  float* s;
  int64_t passes;
  int64_t prefetch;
  float* scratch;
};

// O^T = alpha * O^T + (P . V)^T: p [passes * R][64] as the softmax left it,
// v = nsteps V rows of Dv elements in the storage dtype, v_stride bytes apart,
// ot [passes][Dv][R] (the output transposed; the driver transposes it back
// once per tile), alpha [passes * R]. V lines are prefetched at `prefetch`
// bytes past them.
struct PvLanesArgs {
  const float* p;
  const void* v;
  int64_t v_stride;
  float* ot;
  const float* alpha;
  float* scratch;
  int64_t passes;
  int64_t nsteps;
  int64_t prefetch;
};

using QkFn = void (*)(const QkArgs*);
using QkDirectFn = void (*)(const QkDirectArgs*);
using SoftmaxFn = void (*)(const SoftmaxArgs*);
using PvFn = void (*)(const PvArgs*);
using QkLanesFn = void (*)(const QkLanesArgs*);
using PvLanesFn = void (*)(const PvLanesArgs*);

}  // namespace attngen::x86
