/* The argument of the CUDA merge of partial attention states
 * (templates/cuda/merge_states.cu), filled by the host from checked views
 * (runtime/cuda/merge_states_cuda.cpp). Plain C with no includes, read by
 * NVRTC and the host compiler alike. Views are [L0, L1, L2, Dv] with the
 * leading extents padded in front with 1 (stride 0): rank-2 to rank-4 tensors
 * alike; strides in elements. */
#ifndef ATTNGEN_MERGE_PARAMS_H
#define ATTNGEN_MERGE_PARAMS_H

/* Parts one launch merges: the launch argument holds their views (4 KiB at most). */
#define AG_MERGE_MAX_PARTS 32

enum { AG_STATE_F32 = 0, AG_STATE_F16 = 1, AG_STATE_BF16 = 2 };

struct AgStateView {
  void* o;                 /* [L0, L1, L2, Dv], dtype AG_STATE_* */
  float* lse;              /* [L0, L1, L2] f32, or null (the output's only) */
  long long o_str[4];
  long long lse_str[3];
  int dtype;
};

struct AgMergeParams {
  struct AgStateView out;
  struct AgStateView part[AG_MERGE_MAX_PARTS];
  long long lead[3];  /* L0, L1, L2 */
  long long rows;     /* L0 * L1 * L2 */
  int dv;
  int parts;          /* 1 to AG_MERGE_MAX_PARTS */
};

#endif
