/*
 * attngen: a run-time compiler for fused masked attention. The C ABI.
 *
 * Describe the attention once (a spec, docs/spec.md), compile it into a
 * kernel, run the kernel many times from any threads. Every function returns
 * a status; on failure attngen_last_error() gives a message naming the
 * argument, what was expected and what came. Nothing aborts the process.
 *
 * Thread safety: every function may be called from any thread. A kernel may
 * run on many threads at once. Do not release a handle while another thread
 * still uses it. Guide and complete example: docs/api.md.
 */
#ifndef ATTNGEN_ATTNGEN_H
#define ATTNGEN_ATTNGEN_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define ATTNGEN_API __attribute__((visibility("default")))
#else
#define ATTNGEN_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum attngen_status {
  ATTNGEN_OK = 0,
  ATTNGEN_ERR_INVALID_ARGUMENT = 1, /* a null pointer, a bad option, a tensor that does not match the spec */
  ATTNGEN_ERR_INVALID_SPEC = 2,     /* the spec JSON is malformed or invalid (every problem is listed) */
  ATTNGEN_ERR_BACKEND = 3,          /* unknown backend, unavailable here, or it cannot compile this spec */
  ATTNGEN_ERR_JIT_DISABLED = 4,     /* ATTNGEN_DISABLE_JIT=1 and no cache holds the kernel */
  ATTNGEN_ERR_INVALID_HANDLE = 5,   /* a null, released or foreign handle */
  ATTNGEN_ERR_IO = 6,               /* a file could not be read */
  ATTNGEN_ERR_COMPILE = 7,          /* code generation failed */
  ATTNGEN_ERR_OUT_OF_MEMORY = 8,
  ATTNGEN_ERR_INTERNAL = 9
} attngen_status;

typedef enum attngen_dtype {
  ATTNGEN_F32 = 0,
  ATTNGEN_F16 = 1,
  ATTNGEN_BF16 = 2, /* raw bf16 bits in uint16_t */
  ATTNGEN_I32 = 3,
  ATTNGEN_U8 = 4,
  ATTNGEN_BOOL = 5 /* one byte per element, nonzero = true */
} attngen_dtype;

#define ATTNGEN_MAX_RANK 4

/* A strided view of a tensor; nothing is copied. Strides are in elements
 * (not bytes) and may be anything, so Q, K and V may be slices of one fused
 * QKV buffer and K/V views into a KV cache larger than the current length.
 * A tensor with data == NULL and rank == 0 (all zero) is absent. Outputs
 * (o, lse) are written through `data`. */
typedef struct attngen_tensor {
  const void* data;
  attngen_dtype dtype;
  int32_t rank;
  int64_t shape[ATTNGEN_MAX_RANK];
  int64_t strides[ATTNGEN_MAX_RANK];
} attngen_tensor;

/* A dense C-order (row-major) tensor of `rank` <= 4 extents. */
ATTNGEN_API attngen_tensor attngen_tensor_contiguous(const void* data, attngen_dtype dtype, int32_t rank,
                                                     const int64_t* shape);

/* The tensors of one call; shapes per docs/spec.md ("Tensors"). Run-time mask
 * tensors are required exactly when the spec uses them. Zero-initialise and
 * set what the spec needs. */
typedef struct attngen_args {
  attngen_tensor q, k, v; /* inputs, the spec's dtype and layout */
  attngen_tensor o;       /* output, the spec's dtype */
  attngen_tensor lse;     /* output f32 [B, Hq, Sq] iff the spec has return_lse */
  attngen_tensor q_lens, kv_lens; /* padding: i32 [B] (q_lens optional) */
  attngen_tensor q_doc, kv_doc;   /* document: i32 [B, Sq], [B, Skv] */
  attngen_tensor mask;            /* custom: broadcastable to [B, Hq, Sq, Skv] */
  attngen_tensor alibi_slopes;    /* alibi: f32 [Hq] or [B, Hq] */
  attngen_tensor prefix_lens;     /* prefix_lm without a static prefix: i32 [B] */
} attngen_args;

/* The structs a call takes or fills (options, args, info) travel with the
 * caller's sizeof them: the inline functions below pass it to the exported
 * _sized ones. The library reads and writes only the fields the caller has,
 * so a program built against an older attngen.h keeps working with a newer
 * libattngen. Bindings that declare the structs themselves (ctypes, dlopen)
 * call the _sized functions with their own sizes. */
typedef struct attngen_compile_options {
  uint32_t struct_size; /* the caller's sizeof(attngen_compile_options); set by attngen_compile_options_init */
  const char* backend;  /* NULL or "auto": the best available CPU backend; or "x86", "reference", "cuda" */
  int32_t threads;      /* threads of a run that asks for 0; 0 = all hardware threads */
  /* Backend "cuda" only (read when struct_size covers it). NULL: device 0's
   * arch (needs the driver and a GPU); "sm_80", "sm_86", "sm_89", "sm_90a":
   * compile for that GPU (needs NVRTC only). Part of the cache key. */
  const char* cuda_arch;
  /* Backend "cuda" only (read when struct_size covers it). NULL or "": the
   * per-spec tile, or ATTNGEN_CUDA_TILE's; else a schedule of the f16/bf16
   * kernels as ATTNGEN_CUDA_TILE spells it, e.g. "16x32k4" (decoding: 4 warps
   * splitting the keys of 16 rows) or "128x128wsp" (sm_90a), whatever the
   * environment says (docs/design-cuda.md). Part of the cache key. */
  const char* cuda_tile;
} attngen_compile_options;

/* Fills the first `size` bytes of *options with the defaults (every field
 * NULL or 0) and sets struct_size to `size`. Pass the size of the struct you
 * hold: a library newer than your header then writes and reads none of the
 * fields you do not have. Bindings that declare the struct themselves (ctypes,
 * dlopen) call this with their own size; size < 4 writes nothing. */
ATTNGEN_API void attngen_compile_options_init_sized(attngen_compile_options* options, size_t size);

/* The same for this header's struct: inline, so that the size is the one
 * your program was compiled with, whatever libattngen it runs with. */
static inline void attngen_compile_options_init(attngen_compile_options* options) {
  attngen_compile_options_init_sized(options, sizeof *options);
}

typedef struct attngen_kernel attngen_kernel; /* a compiled kernel (refcounted, immutable) */
typedef struct attngen_call attngen_call;     /* one prepared call, split into work items */

/* Strings stay valid while the kernel handle is alive. */
typedef struct attngen_kernel_info {
  const char* key;     /* cache key: 16 hex digits */
  const char* backend; /* "x86", "reference", ... */
  const char* isa;     /* "avx2", "avx512", "scalar-f64", ... */
  const char* spec;    /* canonical spec JSON */
  int32_t writes_lse;  /* 1: the spec has return_lse (args.lse required) */
  attngen_dtype dtype; /* of Q, K, V and O */
  int32_t num_heads, num_kv_heads, head_dim, head_dim_v;
  int32_t layout_bshd; /* 0: [B, H, S, D]; 1: [B, S, H, D] */
} attngen_kernel_info;

ATTNGEN_API const char* attngen_version(void);
ATTNGEN_API const char* attngen_status_string(attngen_status status);
/* The message of the last failed call on this thread ("" if none). Valid
 * until the next failing call on this thread. */
ATTNGEN_API const char* attngen_last_error(void);

/* Compiles a spec, or finds it in the kernel cache (in memory, then on disk).
 * `options` may be NULL (defaults). On success *out is a new handle (release
 * it with attngen_kernel_release); on failure *out is NULL. */
ATTNGEN_API attngen_status attngen_kernel_compile(const char* spec_json, const attngen_compile_options* options,
                                                  attngen_kernel** out);
ATTNGEN_API attngen_status attngen_kernel_compile_file(const char* spec_path, const attngen_compile_options* options,
                                                       attngen_kernel** out);
ATTNGEN_API attngen_status attngen_kernel_retain(attngen_kernel* kernel);
/* Drops one reference; the last one frees the handle. */
ATTNGEN_API attngen_status attngen_kernel_release(attngen_kernel* kernel);
/* Fills the first `out_size` bytes of *out (fields past the library's struct
 * are zeroed). */
ATTNGEN_API attngen_status attngen_kernel_get_info_sized(const attngen_kernel* kernel, attngen_kernel_info* out,
                                                         size_t out_size);
static inline attngen_status attngen_kernel_get_info(const attngen_kernel* kernel, attngen_kernel_info* out) {
  return attngen_kernel_get_info_sized(kernel, out, sizeof *out);
}

/* Checks every argument against the spec, then computes on `threads`
 * threads (0: the compile option's). Returns when done. */
ATTNGEN_API attngen_status attngen_kernel_run_sized(const attngen_kernel* kernel, const attngen_args* args,
                                                    size_t args_size, int32_t threads);
static inline attngen_status attngen_kernel_run(const attngen_kernel* kernel, const attngen_args* args,
                                                int32_t threads) {
  return attngen_kernel_run_sized(kernel, args, sizeof *args, threads);
}

/* Backend "cuda": runs on DEVICE pointers. Every tensor's `data` is a device
 * address (a CUdeviceptr cast to a pointer, e.g. torch's data_ptr()) that the
 * current CUDA context can access; when no context is current on the calling
 * thread, device 0's primary context is made current (as the CUDA runtime
 * does). Shapes, dtypes, strides and null pointers are checked on the host as
 * for attngen_kernel_run, and each pointer must be known to the driver; the
 * VALUES of q_lens, kv_lens and prefix_lens are not read on the host (the
 * kernel clamps lengths to [0, extent]). The kernel is launched on `stream`
 * (a CUstream; NULL: the default stream) and the call returns without
 * waiting: synchronise the stream before reading o and lse. A launch failure
 * is reported here; a fault during the kernel at the next synchronisation.
 * attngen_kernel_run and attngen_kernel_prepare on a cuda kernel return
 * ATTNGEN_ERR_INVALID_ARGUMENT (their tensors are host memory), as does this
 * function on a CPU kernel. */
ATTNGEN_API attngen_status attngen_kernel_run_cuda_sized(const attngen_kernel* kernel, const attngen_args* args,
                                                         size_t args_size, void* stream);
static inline attngen_status attngen_kernel_run_cuda(const attngen_kernel* kernel, const attngen_args* args,
                                                     void* stream) {
  return attngen_kernel_run_cuda_sized(kernel, args, sizeof *args, stream);
}

/* For host thread pools: checks the arguments and splits the call into about
 * `parts` independent work items. Run each item exactly once, on any threads,
 * in any order, concurrently; the call is complete when all have run. The
 * call refers to the tensors of `args` (not to `args` itself), which must
 * stay valid until the call is released; it keeps the kernel alive. */
ATTNGEN_API attngen_status attngen_kernel_prepare_sized(const attngen_kernel* kernel, const attngen_args* args,
                                                        size_t args_size, int32_t parts, attngen_call** out);
static inline attngen_status attngen_kernel_prepare(const attngen_kernel* kernel, const attngen_args* args,
                                                    int32_t parts, attngen_call** out) {
  return attngen_kernel_prepare_sized(kernel, args, sizeof *args, parts, out);
}
ATTNGEN_API attngen_status attngen_call_items(const attngen_call* call, size_t* out);
ATTNGEN_API attngen_status attngen_call_run_item(const attngen_call* call, size_t item);
ATTNGEN_API attngen_status attngen_call_release(attngen_call* call);

/* Merges partial attention states computed over disjoint sets of keys (split-KV
 * decoding, cascade/prefix sharing, context parallelism) into the state over
 * their union. o_parts[i]: [R..., Dv] (rank 2-4, f32, f16 or bf16), e.g. the
 * O of a kernel run [B, Hq, Sq, Dv] (bshd: pass a view with the H and S
 * strides swapped); lse_parts[i]: f32 [R...], that run's LSE (return_lse).
 * o: the merged O, shaped as the parts, any of the three float dtypes; lse:
 * NULL or the merged f32 LSE [R...]. Per row, with m = max_i LSE_i and
 * w_i = exp(LSE_i - m): O = sum_i w_i O_i / sum_i w_i, LSE = m + log(sum_i w_i),
 * computed in double. A part whose LSE is -inf is empty (its O is not read);
 * when every part is empty, O = 0 and LSE = -inf (never NaN). A NaN or +inf
 * LSE makes the row's O and LSE NaN; a NaN in a non-empty part's O stays NaN.
 * o and lse may be one of the parts (same data and strides: merging in
 * place); other overlaps give unspecified values. Shapes, dtypes and pointers
 * are checked first (ATTNGEN_ERR_INVALID_ARGUMENT naming the tensor). */
ATTNGEN_API attngen_status attngen_merge_states(const attngen_tensor* o_parts, const attngen_tensor* lse_parts,
                                                int32_t num_parts, const attngen_tensor* o, const attngen_tensor* lse);

/* The same merge on DEVICE pointers (as attngen_kernel_run_cuda: the current
 * context's device, else device 0's primary context made current), launched
 * on `stream` (a CUstream; NULL: the default stream); returns without
 * waiting. At most 32 parts a call (merge more in groups: the merge of merges
 * is the merge). Computed in f32: within 1e-6 (relative to the largest
 * |O_i| of the row) of the double merge, then rounded once to o's dtype. The
 * merge kernel is compiled with NVRTC for the device on a process's first
 * call and kept in the disk cache beside the kernels. Shapes, dtypes and
 * pointers are checked first (ATTNGEN_ERR_INVALID_ARGUMENT naming the
 * tensor); ATTNGEN_ERR_BACKEND when there is no CUDA driver. */
ATTNGEN_API attngen_status attngen_merge_states_cuda(const attngen_tensor* o_parts, const attngen_tensor* lse_parts,
                                                     int32_t num_parts, const attngen_tensor* o,
                                                     const attngen_tensor* lse, void* stream);

#ifdef __cplusplus
}
#endif

#endif /* ATTNGEN_ATTNGEN_H */
