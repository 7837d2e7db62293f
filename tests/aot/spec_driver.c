/* Runs an ahead-of-time attention object (docs/aot.md) on a problem written by
 * `attngen verify SPEC --save DIR` and compares its output with the float64
 * reference's, as `attngen verify` does: for aarch64 objects under qemu, with
 * no attngen library (tests/aot/aot_regression.sh). Built against the object's
 * header, generated with --prefix k_ and included as kernel.h.
 *
 *   spec_driver DIR   reads DIR/{q,k,v}.npy and whichever run-time tensors are
 *                     there (q_lens, kv_lens, q_doc, kv_doc, mask, alibi_slopes,
 *                     prefix_lens), writes DIR/o_aot.npy (and lse_aot.npy) and
 *                     compares them with DIR/o_ref.npy and DIR/lse_ref.npy.
 *                     Exit status 0 when the error is within the dtype's
 *                     tolerance, every output is finite, fully masked rows are
 *                     exactly 0 and the LSE agrees.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"

typedef struct {
  char descr[8]; /* "<f4", "<f2", "<u2", "<i4", "|b1", "|u1" */
  int rank;
  int64_t shape[4];
  size_t bytes;
  void* data; /* NULL when the file is absent */
} Npy;

static int fail(const char* what, const char* path) { return fprintf(stderr, "%s: %s\n", path, what), 0; }

/* Reads a .npy file (format 1 or 2, C order); returns 0 on error, 1 on success or absence (data NULL). */
static int read_npy(const char* dir, const char* name, Npy* a) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.npy", dir, name);
  memset(a, 0, sizeof *a);
  FILE* f = fopen(path, "rb");
  if (!f) return 1;
  unsigned char pre[12];
  int ok = fread(pre, 1, 10, f) == 10 && pre[0] == 0x93 && (pre[6] == 1 || pre[6] == 2);
  size_t hlen = 0;
  if (ok && pre[6] == 2) ok = fread(pre + 10, 1, 2, f) == 2;
  if (ok) hlen = pre[6] == 1 ? (size_t)(pre[8] | pre[9] << 8) : (size_t)(pre[8] | pre[9] << 8 | pre[10] << 16 | pre[11] << 24);
  char* header = ok ? calloc(1, hlen + 1) : NULL;
  ok = ok && header && fread(header, 1, hlen, f) == hlen;
  const char* d = ok ? strstr(header, "'descr': '") : NULL;
  const char* s = ok ? strstr(header, "'shape': (") : NULL;
  ok = d && s && strstr(header, "'fortran_order': False");
  if (ok) {
    memcpy(a->descr, d + 10, 3);
    for (s += 10; *s && *s != ')' && a->rank < 4;) {
      char* end;
      a->shape[a->rank++] = strtoll(s, &end, 10);
      s = end;
      while (*s == ',' || *s == ' ') ++s;
    }
    ok = *s == ')';
  }
  size_t numel = 1, elem = ok ? (size_t)(a->descr[2] - '0') : 0;
  for (int i = 0; i < a->rank; ++i) numel *= (size_t)a->shape[i];
  if (ok) {
    a->bytes = numel * elem;
    a->data = malloc(a->bytes + 1);
    ok = a->data && fread(a->data, 1, a->bytes, f) == a->bytes;
  }
  free(header);
  fclose(f);
  return ok ? 1 : fail("not a C-order .npy file of rank <= 4 this driver reads", path);
}

static int write_npy(const char* dir, const char* name, const char* descr, const void* data, size_t bytes,
                     const int64_t* shape, int rank) {
  char path[4096], header[256], dims[128] = "";
  for (int i = 0; i < rank; ++i)
    snprintf(dims + strlen(dims), sizeof dims - strlen(dims), "%lld,%s", (long long)shape[i], i + 1 < rank ? " " : "");
  if (rank > 1) dims[strlen(dims) - 1] = '\0';
  int len = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, dims);
  while ((10 + len + 1) % 64) header[len++] = ' ';
  header[len++] = '\n';
  snprintf(path, sizeof path, "%s/%s.npy", dir, name);
  FILE* f = fopen(path, "wb");
  if (!f) return fail("cannot be written", path);
  const unsigned char magic[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(len & 0xff), (unsigned char)(len >> 8)};
  int ok = fwrite(magic, 1, 10, f) == 10 && fwrite(header, 1, (size_t)len, f) == (size_t)len &&
           fwrite(data, 1, bytes, f) == bytes;
  ok &= fclose(f) == 0;
  return ok ? 1 : fail("write failed", path);
}

/* Element i of an output in the spec dtype, as a double. */
static double load(const void* data, size_t i) {
  float x;
  if (K_ELEM_BYTES == 4) return memcpy(&x, (const char*)data + 4 * i, 4), x;
  const uint16_t h = ((const uint16_t*)data)[i];
  if (strcmp(K_DTYPE, "bf16") == 0) {
    const uint32_t bits = (uint32_t)h << 16;
    return memcpy(&x, &bits, 4), x;
  }
  const int e = (h >> 10) & 31, m = h & 1023; /* f16 */
  const double mag = e == 31 ? (m ? NAN : INFINITY) : e == 0 ? ldexp(m, -24) : ldexp(m + 1024, e - 25);
  return (h & 0x8000) ? -mag : mag;
}

/* Logical [B, H, S, D] strides of a tensor stored in the spec's layout. */
static void layout_strides(const Npy* t, ag_i64* str) {
  const int64_t* s = t->shape; /* bhsd [B,H,S,D] or bshd [B,S,H,D] */
  str[3] = 1;
  if (K_LAYOUT_BSHD) str[1] = s[3], str[2] = s[2] * s[3], str[0] = s[1] * s[2] * s[3];
  else str[2] = s[3], str[1] = s[2] * s[3], str[0] = s[1] * s[2] * s[3];
}

/* Strides of a tensor broadcast to `rank` axes: right-aligned, 0 on axes of extent 1 or absent. */
static void broadcast_strides(const Npy* t, ag_i64* str, int rank) {
  ag_i64 dense = 1;
  for (int d = rank - 1, s = t->rank - 1; d >= 0; --d, --s) {
    str[d] = s >= 0 && t->shape[s] != 1 ? dense : 0;
    if (s >= 0) dense *= t->shape[s];
  }
}

int main(int argc, char** argv) {
  if (argc != 2) return fprintf(stderr, "usage: %s DIR\n", argv[0]), 2;
  const char* dir = argv[1];
  Npy q, k, v, q_lens, kv_lens, q_doc, kv_doc, mask, alibi, prefix, o_ref, lse_ref;
  if (!read_npy(dir, "q", &q) || !read_npy(dir, "k", &k) || !read_npy(dir, "v", &v) ||
      !read_npy(dir, "q_lens", &q_lens) || !read_npy(dir, "kv_lens", &kv_lens) || !read_npy(dir, "q_doc", &q_doc) ||
      !read_npy(dir, "kv_doc", &kv_doc) || !read_npy(dir, "mask", &mask) || !read_npy(dir, "alibi_slopes", &alibi) ||
      !read_npy(dir, "prefix_lens", &prefix) || !read_npy(dir, "o_ref", &o_ref) || !read_npy(dir, "lse_ref", &lse_ref))
    return 2;
  if (!q.data || !k.data || !v.data || !o_ref.data || !lse_ref.data || q.rank != 4 || k.rank != 4)
    return fprintf(stderr, "%s: q, k, v, o_ref and lse_ref (from `attngen verify --save`) are needed\n", dir), 2;

  const ag_i64 B = q.shape[0], H = K_NUM_HEADS, SQ = q.shape[K_LAYOUT_BSHD ? 1 : 2], SKV = k.shape[K_LAYOUT_BSHD ? 1 : 2];
  const size_t rows = (size_t)(B * H * SQ), o_bytes = rows * K_HEAD_DIM_V * K_ELEM_BYTES;
  void* o = malloc(o_bytes);
  float* lse = malloc(rows * sizeof(float));
  if (!o || !lse || o_ref.bytes != o_bytes) return fprintf(stderr, "%s: o_ref has not the expected size\n", dir), 2;
  memset(o, 0xff, o_bytes); /* NaN in every dtype: the kernel must write every element */
  memset(lse, 0xff, rows * sizeof(float));

  struct AttnParams p;
  memset(&p, 0, sizeof p);
  p.q = q.data, p.k = k.data, p.v = v.data, p.o = o, p.lse = K_RETURN_LSE ? lse : NULL;
  p.batch = B, p.sq = SQ, p.skv = SKV;
  layout_strides(&q, p.q_str), layout_strides(&k, p.k_str), layout_strides(&v, p.v_str);
  Npy o_view = q;
  o_view.shape[3] = K_HEAD_DIM_V;
  layout_strides(&o_view, p.o_str);
  p.lse_str[0] = H * SQ, p.lse_str[1] = SQ, p.lse_str[2] = 1;
  p.q_lens = q_lens.data, p.kv_lens = kv_lens.data, p.prefix_lens = prefix.data;
  p.q_lens_str = p.kv_lens_str = p.prefix_lens_str = 1;
  p.q_doc = q_doc.data, p.kv_doc = kv_doc.data;
  p.q_doc_str[0] = SQ, p.kv_doc_str[0] = SKV, p.q_doc_str[1] = p.kv_doc_str[1] = 1;
  if (alibi.data) p.alibi = alibi.data, broadcast_strides(&alibi, p.alibi_str, 2);
  if (mask.data) {
    p.mask = mask.data;
    broadcast_strides(&mask, p.mask_str, 4);
    p.mask_type = !strcmp(mask.descr, "<f4") ? AG_MASK_F32 : !strcmp(mask.descr, "<f2") ? AG_MASK_F16
                : !strcmp(mask.descr, "<u2") ? AG_MASK_BF16 : AG_MASK_BYTES;
  }

  void* scratch = aligned_alloc(64, ((size_t)k_scratch_bytes() + 63) / 64 * 64);
  if (!scratch) return fprintf(stderr, "out of memory\n"), 2;
  const ag_i64 items = k_items(&p);
  for (ag_i64 i = items - 1; i >= 0; --i) k_run_item(&p, i, scratch); /* items are independent: any order */
  free(scratch);

  const int64_t lse_shape[3] = {B, H, SQ};
  const char* descr = K_ELEM_BYTES == 4 ? "<f4" : strcmp(K_DTYPE, "bf16") == 0 ? "<u2" : "<f2";
  if (!write_npy(dir, "o_aot", descr, o, o_bytes, o_view.shape, 4) ||
      (K_RETURN_LSE && !write_npy(dir, "lse_aot", "<f4", lse, rows * sizeof(float), lse_shape, 3)))
    return 2;

  /* As tools/common/workload.cpp's compare_with_reference. */
  const double tol = K_ELEM_BYTES == 4 ? 2e-5 : strcmp(K_DTYPE, "bf16") == 0 ? 1.6e-2 : 4e-3;
  double num = 0, den = 0, lse_err = 0;
  size_t nonfinite = 0, empty = 0, empty_nonzero = 0, lse_mismatch = 0;
  const float* ref_lse = lse_ref.data;
  for (ag_i64 b = 0; b < B; ++b)
    for (ag_i64 h = 0; h < H; ++h)
      for (ag_i64 i = 0; i < SQ; ++i) {
        const size_t row = (size_t)((b * H + h) * SQ + i);
        const size_t base = (K_LAYOUT_BSHD ? (size_t)((b * SQ + i) * H + h) : row) * K_HEAD_DIM_V;
        const int is_empty = ref_lse[row] == -INFINITY;
        int nonzero = 0;
        for (size_t d = 0; d < K_HEAD_DIM_V; ++d) {
          const double x = load(o, base + d), r = load(o_ref.data, base + d);
          nonfinite += !isfinite(x);
          nonzero |= x != 0;
          num += (x - r) * (x - r), den += r * r;
        }
        empty += is_empty, empty_nonzero += is_empty && nonzero;
        if (K_RETURN_LSE) {
          if ((lse[row] == -INFINITY) != is_empty || isnan(lse[row])) ++lse_mismatch;
          else if (!is_empty && fabs(lse[row] - ref_lse[row]) > lse_err) lse_err = fabs(lse[row] - ref_lse[row]);
        }
      }
  const double rel = den > 0 ? sqrt(num / den) : sqrt(num);
  const int ok = rel <= tol && nonfinite == 0 && empty_nonzero == 0 && lse_mismatch == 0 && lse_err <= 1e-3;
  printf("%s: %s B=%lld Sq=%lld Skv=%lld Hq=%d Hkv=%d D=%d Dv=%d %s, %lld items: rel_err %.3g (tolerance %g), "
         "nonfinite %zu, empty rows %zu (%zu not exactly 0), lse max_abs_err %.3g, lse -inf mismatches %zu: %s\n",
         dir, K_DTYPE, (long long)B, (long long)SQ, (long long)SKV, K_NUM_HEADS, K_NUM_KV_HEADS, K_HEAD_DIM,
         K_HEAD_DIM_V, K_LAYOUT_BSHD ? "bshd" : "bhsd", (long long)items, rel, tol, nonfinite, empty, empty_nonzero,
         lse_err, lse_mismatch, ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
