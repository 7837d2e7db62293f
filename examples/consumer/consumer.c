/* The same library from plain C: compile, query, run, release. */
#include <attngen/attngen.h>

#include <stdio.h>
#include <math.h>
#include <stdlib.h>

int main(void) {
  const char* spec = "{\"dtype\": \"f32\", \"head_dim\": 32, \"num_heads\": 4, "
                     "\"mask\": [{\"type\": \"causal\", \"align\": \"top_left\"}]}";
  enum { B = 1, H = 4, S = 8, D = 32, N = B * H * S * D };
  static float q[N], k[N], v[N], o[N];
  for (int i = 0; i < N; ++i) q[i] = k[i] = v[i] = (float)(i % 7) / 7.0f;

  attngen_compile_options opt;
  attngen_compile_options_init(&opt);
  opt.threads = 1;
  attngen_kernel* kernel = NULL;
  if (attngen_kernel_compile(spec, &opt, &kernel) != ATTNGEN_OK) {
    fprintf(stderr, "compile: %s\n", attngen_last_error());
    return 1;
  }
  attngen_kernel_info info;
  attngen_kernel_get_info(kernel, &info);
  printf("C: kernel %s backend %s isa %s\n", info.key, info.backend, info.isa);

  const int64_t shape[4] = {B, H, S, D};
  attngen_args args = {0};
  args.q = attngen_tensor_contiguous(q, ATTNGEN_F32, 4, shape);
  args.k = attngen_tensor_contiguous(k, ATTNGEN_F32, 4, shape);
  args.v = attngen_tensor_contiguous(v, ATTNGEN_F32, 4, shape);
  args.o = attngen_tensor_contiguous(o, ATTNGEN_F32, 4, shape);
  attngen_status s = attngen_kernel_run(kernel, &args, 0);
  if (s != ATTNGEN_OK) fprintf(stderr, "run: %s: %s\n", attngen_status_string(s), attngen_last_error());

  /* Row 0 attends to key 0 only under top-left causal: o = v[0]. */
  int ok = s == ATTNGEN_OK && fabsf(o[0] - v[0]) < 1e-5f && fabsf(o[D - 1] - v[D - 1]) < 1e-5f;
  attngen_kernel_release(kernel);
  /* A released handle is an error status, not a crash. */
  ok = ok && attngen_kernel_run(kernel, &args, 0) == ATTNGEN_ERR_INVALID_HANDLE;
  printf("C: %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
