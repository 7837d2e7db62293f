/* A host program that runs an attention kernel compiled ahead of time by
 * attngen (docs/aot.md) with no attngen library: it links the object and
 * includes its header, nothing else. The kernel is examples/aot/spec.json
 * (f32, Hq 8, Hkv 2, D 64, padding + causal, LSE), built with --prefix attn_:
 *
 *   attngen compile examples/aot/spec.json --backend llvm --prefix attn_ --emit attn.o --header attn.h
 *   cc -O2 -I. examples/aot/main.c attn.o -lm -o aot_example
 *
 *   aot_example DIR               writes DIR/{q,k,v,kv_lens}.npy (random, fixed seed) and the kernel's
 *                                 DIR/o_aot.npy and DIR/lse_aot.npy
 *   aot_example --compare A B TOL compares two f32 .npy files: bit for bit (TOL 0) or by relative
 *                                 error ||a - b|| / ||b|| <= TOL; exit status 0 when they match
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn.h"

enum { B = 2, HQ = 8, HKV = 2, SQ = 37, SKV = 45, D = 64 };

static uint64_t rng = 88172645463325252ull;
static float uniform(void) { /* xorshift64, in [-1, 1) */
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (float)((rng >> 40) * (2.0 / 16777216.0) - 1.0);
}

static int write_npy(const char* dir, const char* name, const char* descr, const void* data, size_t elem,
                     const int64_t* shape, int rank) {
  char path[4096], header[256], dims[128] = "";
  size_t n = 1;
  for (int i = 0; i < rank; ++i) {
    n *= (size_t)shape[i];
    snprintf(dims + strlen(dims), sizeof dims - strlen(dims), "%lld,%s", (long long)shape[i],
             i + 1 < rank ? " " : "");
  }
  if (rank > 1) dims[strlen(dims) - 1] = '\0'; /* (2, 3) but (2,) */
  int len = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, dims);
  while ((10 + len + 1) % 64) header[len++] = ' ';
  header[len++] = '\n';
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE* f = fopen(path, "wb");
  if (!f) return perror(path), 1;
  const unsigned char magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  const unsigned char hlen[2] = {(unsigned char)(len & 0xff), (unsigned char)(len >> 8)};
  int bad = fwrite(magic, 1, 8, f) != 8 || fwrite(hlen, 1, 2, f) != 2 || fwrite(header, 1, (size_t)len, f) != (size_t)len ||
            fwrite(data, elem, n, f) != n;
  bad |= fclose(f) != 0;
  if (bad) fprintf(stderr, "%s: write failed\n", path);
  return bad;
}

/* The f32 data of a .npy file (v1 header, '<f4', C order); *n elements. */
static float* read_f32_npy(const char* path, size_t* n) {
  FILE* f = fopen(path, "rb");
  if (!f) return perror(path), NULL;
  unsigned char pre[10];
  float* data = NULL;
  if (fread(pre, 1, 10, f) == 10 && pre[0] == 0x93 && pre[6] == 1) {
    const long start = 10 + (pre[8] | (pre[9] << 8));
    fseek(f, 0, SEEK_END);
    const long end = ftell(f);
    *n = (size_t)(end - start) / sizeof(float);
    data = malloc(*n * sizeof(float) + 1);
    fseek(f, start, SEEK_SET);
    if (!data || fread(data, sizeof(float), *n, f) != *n) free(data), data = NULL;
  }
  fclose(f);
  if (!data) fprintf(stderr, "%s: not a v1 .npy file of f32\n", path);
  return data;
}

static int compare(const char* a_path, const char* b_path, double tol) {
  size_t na = 0, nb = 0;
  float* a = read_f32_npy(a_path, &na);
  float* b = read_f32_npy(b_path, &nb);
  if (!a || !b || na != nb) return fprintf(stderr, "compare: sizes differ or unreadable\n"), 2;
  double diff = 0, ref = 0;
  size_t differing_bits = 0, nan_mismatch = 0;
  for (size_t i = 0; i < na; ++i) {
    differing_bits += memcmp(&a[i], &b[i], sizeof(float)) != 0;
    if (isnan(a[i]) != isnan(b[i]) || (isinf(a[i]) && a[i] != b[i])) ++nan_mismatch;
    if (!isfinite(a[i]) || !isfinite(b[i])) continue;
    diff += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    ref += (double)b[i] * b[i];
  }
  const double rel = ref > 0 ? sqrt(diff / ref) : sqrt(diff);
  const int ok = tol == 0 ? differing_bits == 0 : rel <= tol && nan_mismatch == 0;
  printf("compare %s %s: %zu elements, %zu differ in bits, rel_err %.3g, non-finite mismatches %zu: %s\n", a_path,
         b_path, na, differing_bits, rel, nan_mismatch, ok ? (tol == 0 ? "bit-identical" : "within tolerance") : "MISMATCH");
  free(a), free(b);
  return ok ? 0 : 1;
}

int main(int argc, char** argv) {
  if (argc == 5 && strcmp(argv[1], "--compare") == 0) return compare(argv[2], argv[3], atof(argv[4]));
  if (argc != 2) return fprintf(stderr, "usage: %s DIR | --compare A.npy B.npy TOL\n", argv[0]), 2;
  const char* dir = argv[1];
  static float q[B][HQ][SQ][D], k[B][HKV][SKV][D], v[B][HKV][SKV][D], o[B][HQ][SQ][D], lse[B][HQ][SQ];
  int32_t kv_lens[B] = {SKV, 29};
  for (float* p = &q[0][0][0][0]; p < &q[0][0][0][0] + sizeof q / sizeof(float); ++p) *p = uniform();
  for (float* p = &k[0][0][0][0]; p < &k[0][0][0][0] + sizeof k / sizeof(float); ++p) *p = uniform();
  for (float* p = &v[0][0][0][0]; p < &v[0][0][0][0] + sizeof v / sizeof(float); ++p) *p = uniform();

  /* Views in elements, logical [B, H, S, D] order (templates/common/attention_params.h). */
  struct AttnParams p;
  memset(&p, 0, sizeof p);
  p.q = q, p.k = k, p.v = v, p.o = o, p.lse = &lse[0][0][0], p.kv_lens = kv_lens;
  p.batch = B, p.sq = SQ, p.skv = SKV;
  const ag_i64 q_str[4] = {HQ * SQ * D, SQ * D, D, 1}, kv_str[4] = {HKV * SKV * D, SKV * D, D, 1};
  const ag_i64 lse_str[3] = {HQ * SQ, SQ, 1};
  memcpy(p.q_str, q_str, sizeof q_str), memcpy(p.o_str, q_str, sizeof q_str);
  memcpy(p.k_str, kv_str, sizeof kv_str), memcpy(p.v_str, kv_str, sizeof kv_str);
  memcpy(p.lse_str, lse_str, sizeof lse_str);
  p.kv_lens_str = 1;

  void* scratch = aligned_alloc(64, ((size_t)attn_scratch_bytes() + 63) / 64 * 64);
  if (!scratch) return fprintf(stderr, "out of memory\n"), 1;
  attn_run(&p, scratch); /* or attn_run_item(&p, i, scratch) for i < attn_items(&p), on any threads */
  free(scratch);

  const int64_t qs[4] = {B, HQ, SQ, D}, kvs[4] = {B, HKV, SKV, D}, ls[3] = {B, HQ, SQ}, bs[1] = {B};
  int bad = write_npy(dir, "q.npy", "<f4", q, 4, qs, 4) | write_npy(dir, "k.npy", "<f4", k, 4, kvs, 4) |
            write_npy(dir, "v.npy", "<f4", v, 4, kvs, 4) | write_npy(dir, "kv_lens.npy", "<i4", kv_lens, 4, bs, 1) |
            write_npy(dir, "o_aot.npy", "<f4", o, 4, qs, 4) | write_npy(dir, "lse_aot.npy", "<f4", lse, 4, ls, 3);
  if (!bad) printf("ran %lld work items; wrote %s/{q,k,v,kv_lens,o_aot,lse_aot}.npy\n", (long long)attn_items(&p), dir);
  return bad;
}
