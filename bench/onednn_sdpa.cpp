// attngen_onednn_sdpa: an UNFUSED attention baseline built from oneDNN primitives, so attngen's
// benchmark figures can be compared with a library pipeline in the same run on the same machine.
//
//   S = scale * Q K^T      batched matmul, K^T through a transposed strided descriptor (no copy)
//   S[i][j] = -inf         explicit pass for causal (bottom-right: allowed j <= i + Skv - Sq)
//   P = softmax(S)         softmax primitive over the last axis
//   O = P V                batched matmul
//
// Layout bhsd. GQA without copies: query head h reads KV head h / G (G = Hq / Hkv), and a contiguous
// Q of shape [B, Hq, Sq, D] is exactly [B, Hkv, G*Sq, D], so each matmul is one batched call over
// (B, Hkv). Every score is computed and materialised, as in any unfused pipeline; the figure of
// merit still counts only allowed scores, like `attngen bench`.
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

using dnnl::memory;
using dt = memory::data_type;

struct Options {
  bool bf16 = false, causal = false, check = false;
  int64_t batch = 1, heads = 20, kv_heads = 5, head_dim = 128, q_len = 2048, kv_len = 2048;
  int threads = 1, reps = 5;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "error: %s\nusage: attngen_onednn_sdpa --dtype f32|bf16 [--batch 1] --heads 20 --kv-heads 5 "
               "--head-dim 128 --q-len 2048 --kv-len 2048 [--causal] [--threads 1] [--reps 5] [--check]\n",
               why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    auto number = [&]() -> int64_t {
      const std::string v = value();
      char* end = nullptr;
      const long long n = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < 1) usage(("bad value for " + a + ": " + v).c_str());
      return n;
    };
    if (a == "--dtype") {
      const std::string v = value();
      if (v != "f32" && v != "bf16") usage("--dtype must be f32 or bf16");
      o.bf16 = v == "bf16";
    } else if (a == "--batch") o.batch = number();
    else if (a == "--heads") o.heads = number();
    else if (a == "--kv-heads") o.kv_heads = number();
    else if (a == "--head-dim") o.head_dim = number();
    else if (a == "--q-len") o.q_len = number();
    else if (a == "--kv-len") o.kv_len = number();
    else if (a == "--threads") o.threads = int(number());
    else if (a == "--reps") o.reps = int(number());
    else if (a == "--causal") o.causal = true;
    else if (a == "--check") o.check = true;
    else usage(("unknown option " + a).c_str());
  }
  if (o.heads % o.kv_heads != 0) usage("--heads must be a multiple of --kv-heads");
  return o;
}

// bf16 is the top half of an f32; round to nearest even (inputs are finite).
uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return uint16_t((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}
float from_bf16(uint16_t h) {
  const uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// A tensor held as f32 values plus, for bf16 runs, the bf16 bits oneDNN actually reads.
struct Buffer {
  std::vector<float> f;
  std::vector<uint16_t> h;
  void* data(bool bf16) { return bf16 ? static_cast<void*>(h.data()) : static_cast<void*>(f.data()); }
  float at(bool bf16, size_t i) const { return bf16 ? from_bf16(h[i]) : f[i]; }
};

Buffer random_buffer(size_t n, bool bf16, std::mt19937_64& rng) {
  std::normal_distribution<float> dist(0.f, 1.f);
  Buffer b;
  b.f.resize(n);
  for (float& x : b.f) x = dist(rng);
  if (bf16) {
    b.h.resize(n);
    for (size_t i = 0; i < n; ++i) b.h[i] = to_bf16(b.f[i]);
  }
  return b;
}

// Query position i may see keys j <= i + Skv - Sq; returns how many keys that is (0 for an empty row).
int64_t allowed_keys(const Options& o, int64_t i) {
  if (!o.causal) return o.kv_len;
  return std::clamp<int64_t>(i + o.kv_len - o.q_len + 1, 0, o.kv_len);
}

// Float64 reference over the same (possibly bf16-rounded) inputs. Empty rows output 0, like attngen.
double check(const Options& o, const Buffer& q, const Buffer& k, const Buffer& v, const Buffer& out, double scale) {
  const int64_t D = o.head_dim, Sq = o.q_len, Skv = o.kv_len, G = o.heads / o.kv_heads;
  double num = 0, den = 0;
  std::vector<double> p(size_t(Skv), 0.0);
  for (int64_t b = 0; b < o.batch; ++b)
    for (int64_t h = 0; h < o.heads; ++h)
      for (int64_t i = 0; i < Sq; ++i) {
        const size_t qrow = size_t((b * o.heads + h) * Sq + i), kv0 = size_t((b * o.kv_heads + h / G) * Skv);
        const int64_t n = allowed_keys(o, i);
        double m = -std::numeric_limits<double>::infinity(), sum = 0;
        for (int64_t j = 0; j < n; ++j) {
          double s = 0;
          for (int64_t d = 0; d < D; ++d)
            s += double(q.at(o.bf16, qrow * D + d)) * double(k.at(o.bf16, (kv0 + j) * D + d));
          p[size_t(j)] = s * scale;
          m = std::max(m, p[size_t(j)]);
        }
        for (int64_t j = 0; j < n; ++j) sum += (p[size_t(j)] = std::exp(p[size_t(j)] - m));
        for (int64_t d = 0; d < D; ++d) {
          double r = 0;
          for (int64_t j = 0; j < n; ++j) r += p[size_t(j)] * double(v.at(o.bf16, (kv0 + j) * D + d));
          if (n > 0) r /= sum;
          const double x = out.at(o.bf16, qrow * D + d);
          num += (x - r) * (x - r);
          den += r * r;
        }
      }
  if (std::isnan(num)) return std::numeric_limits<double>::infinity();
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

}  // namespace

int main(int argc, char** argv) try {
  const Options o = parse(argc, argv);
#ifdef _OPENMP
  // libdnnl (Debian) uses the OpenMP runtime: primitives take their thread count from it.
  omp_set_num_threads(o.threads);
#endif
  const int64_t B = o.batch, Hkv = o.kv_heads, G = o.heads / o.kv_heads, D = o.head_dim, Dv = o.head_dim;
  const int64_t Sq = o.q_len, Skv = o.kv_len, M = G * Sq;  // M: query rows per KV head
  const double scale = 1.0 / std::sqrt(double(D));
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream strm(eng);

  // Descriptors over (B, Hkv, rows, cols), all dense row-major except the transposed view of K.
  const memory::dims qd{B, Hkv, M, D}, kd{B, Hkv, Skv, D}, sd{B, Hkv, M, Skv}, vd{B, Hkv, Skv, Dv}, od{B, Hkv, M, Dv};
  const memory::dims kt_dims{B, Hkv, D, Skv}, kt_strides{Hkv * Skv * D, Skv * D, 1, D};
  auto dense = [](const memory::dims& d, dt t) { return memory::desc(d, t, memory::format_tag::abcd); };
  const memory::desc s_md = dense(sd, dt::f32);  // scores are always f32 (the matmul accumulator)

  // The pipeline in compute type c. For bf16, Q/K/V/O are bf16 and the softmax writes P in bf16, so
  // both matmuls run bf16 x bf16 with f32 accumulation; f32 runs the softmax in place (P aliases S).
  dnnl::primitive_attr qk_attr;
  qk_attr.set_output_scales(0, {float(scale)});  // one common scale, applied to the matmul's output
  dnnl::matmul::primitive_desc qk_pd, pv_pd;
  dnnl::softmax_v2_forward::primitive_desc sm_pd;
  auto build = [&](dt c) {
    qk_pd = dnnl::matmul::primitive_desc(
        dnnl::matmul::desc(dense(qd, c), memory::desc(kt_dims, c, kt_strides), s_md), qk_attr, eng, true);
    sm_pd = dnnl::softmax_v2_forward::primitive_desc(
        dnnl::softmax_v2_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::softmax_accurate, s_md,
                                       dense(sd, c), 3),
        eng, true);
    pv_pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(dense(sd, c), dense(vd, c), dense(od, c)), eng, true);
    return bool(qk_pd) && bool(sm_pd) && bool(pv_pd);
  };
  // oneDNN 2.x implements bf16 matmul/softmax only on AVX-512 (avx512_core) and newer. Elsewhere a
  // bf16 caller has to convert: reorder Q, K, V to f32, run the f32 pipeline, reorder O back to bf16
  // (all inside the timed region, since a bf16 model pays for them).
  const bool native = build(o.bf16 ? dt::bf16 : dt::f32);
  const bool upconvert = o.bf16 && !native;
  if (!native && !(upconvert && build(dt::f32))) throw std::runtime_error("oneDNN has no implementation");
  const dt c = native ? (o.bf16 ? dt::bf16 : dt::f32) : dt::f32;
  const dnnl::matmul qk(qk_pd), pv(pv_pd);
  const dnnl::softmax_v2_forward sm(sm_pd);

  std::mt19937_64 rng(20240521);
  Buffer q = random_buffer(size_t(B * o.heads * Sq * D), o.bf16, rng);
  Buffer k = random_buffer(size_t(B * Hkv * Skv * D), o.bf16, rng);
  Buffer v = random_buffer(size_t(B * Hkv * Skv * Dv), o.bf16, rng);
  Buffer out;
  out.f.resize(size_t(B * o.heads * Sq * Dv));
  if (o.bf16) out.h.resize(out.f.size());

  // Compute-side memories use the bf16 bits (native) or the f32 vectors (f32 runs, and the upconvert
  // path, whose reorders rewrite Buffer::f from Buffer::h on every run).
  const size_t n_scores = size_t(B * Hkv * M * Skv);
  std::vector<float> s_buf(n_scores);
  std::vector<uint16_t> p_bf16(c == dt::bf16 ? n_scores : 0);
  const bool cb = c == dt::bf16;
  memory q_m(dense(qd, c), eng, q.data(cb)), k_m(qk_pd.weights_desc(), eng, k.data(cb));
  memory v_m(dense(vd, c), eng, v.data(cb)), o_m(dense(od, c), eng, out.data(cb));
  memory s_m(s_md, eng, s_buf.data());
  memory p_m(dense(sd, c), eng, cb ? static_cast<void*>(p_bf16.data()) : static_cast<void*>(s_buf.data()));

  struct Convert {
    dnnl::reorder::primitive_desc pd;
    dnnl::reorder prim;
    memory src, dst;
    const char* name;
  };
  std::vector<Convert> to_f32, to_bf16;
  if (upconvert) {
    auto conv = [&](const memory::dims& dims, Buffer& b, bool up, const char* name) {
      memory h(dense(dims, dt::bf16), eng, b.h.data()), f(dense(dims, dt::f32), eng, b.f.data());
      memory src = up ? h : f, dst = up ? f : h;
      const dnnl::reorder::primitive_desc pd(src, dst);
      return Convert{pd, dnnl::reorder(pd), src, dst, name};
    };
    to_f32 = {conv(qd, q, true, "reorder_q"), conv(kd, k, true, "reorder_k"), conv(vd, v, true, "reorder_v")};
    to_bf16 = {conv(od, out, false, "reorder_o")};
  }

  const float neg_inf = -std::numeric_limits<float>::infinity();
  const int64_t rows = B * Hkv * M;
  auto convert = [&](std::vector<Convert>& cs) {
    for (Convert& cv : cs) cv.prim.execute(strm, cv.src, cv.dst);
    strm.wait();
  };
  auto run = [&] {
    convert(to_f32);
    qk.execute(strm, {{DNNL_ARG_SRC, q_m}, {DNNL_ARG_WEIGHTS, k_m}, {DNNL_ARG_DST, s_m}});
    strm.wait();
    if (o.causal) {
      // Row r is query position i = r % Sq (rows run over b, kv head, group member, i).
#pragma omp parallel for schedule(static)
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t n = allowed_keys(o, r % Sq);
        std::fill(s_buf.begin() + r * Skv + n, s_buf.begin() + (r + 1) * Skv, neg_inf);
      }
    }
    sm.execute(strm, {{DNNL_ARG_SRC, s_m}, {DNNL_ARG_DST, p_m}});
    strm.wait();
    if (o.causal && Sq > Skv) {
      // Rows with no allowed key come out of softmax as NaN; attngen defines their output as 0.
      for (int64_t r = 0; r < rows; ++r)
        if (allowed_keys(o, r % Sq) == 0) {
          if (cb) std::fill_n(p_bf16.begin() + r * Skv, Skv, uint16_t(0));
          else std::fill_n(s_buf.begin() + r * Skv, Skv, 0.f);
        }
    }
    pv.execute(strm, {{DNNL_ARG_SRC, p_m}, {DNNL_ARG_WEIGHTS, v_m}, {DNNL_ARG_DST, o_m}});
    strm.wait();
    convert(to_bf16);
  };

  run();  // warm-up; also the result --check looks at
  double rel_err = -1;
  if (o.check) rel_err = check(o, q, k, v, out, scale);
  std::vector<double> ms;
  for (int r = 0; r < o.reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  const double median = ms.size() % 2 ? ms[ms.size() / 2] : 0.5 * (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]);

  double allowed = 0;
  for (int64_t i = 0; i < Sq; ++i) allowed += double(allowed_keys(o, i));
  allowed *= double(B * o.heads);
  const double flops = 2.0 * double(D + Dv) * allowed;
  const size_t score_bytes = n_scores * sizeof(float) + p_bf16.size() * sizeof(uint16_t);
  int threads = o.threads;
#ifdef _OPENMP
  threads = omp_get_max_threads();
#endif

  std::printf("{\"peer\":\"onednn-unfused\",\"dtype\":\"%s\",\"batch\":%lld,\"heads\":%lld,\"kv_heads\":%lld,"
              "\"head_dim\":%lld,\"q_len\":%lld,\"kv_len\":%lld,\"causal\":%s,\"threads\":%d,\"reps\":%d,"
              "\"ms_median\":%.4f,\"ms_min\":%.4f,\"gflops\":%.3f,\"allowed_fraction\":%.6f,"
              "\"compute_dtype\":\"%s\",\"score_matrix_bytes\":%zu,"
              "\"impls\":[\"matmul_qk:%s\",\"softmax:%s\",\"matmul_pv:%s\"",
              o.bf16 ? "bf16" : "f32", (long long)B, (long long)o.heads, (long long)Hkv, (long long)D,
              (long long)Sq, (long long)Skv, o.causal ? "true" : "false", threads, o.reps, median, ms.front(),
              flops / median / 1e6, allowed / double(B * o.heads * Sq * Skv), cb ? "bf16" : "f32", score_bytes, qk_pd.impl_info_str(),
              sm_pd.impl_info_str(), pv_pd.impl_info_str());
  for (const auto* cs : {&to_f32, &to_bf16})
    for (const Convert& cv : *cs)
      std::printf(",\"%s:%s\"", cv.name, cv.pd.impl_info_str());
  std::printf("]");
  if (o.check) std::printf(",\"rel_err\":%.3e", rel_err);
  std::printf("}\n");
  // Same tolerances as attngen's own checks (tools/common/workload.cpp default_tolerance).
  return o.check && !(rel_err <= (o.bf16 ? 1.6e-2 : 2e-5)) ? 1 : 0;
} catch (const dnnl::error& e) {
  std::fprintf(stderr, "oneDNN error: %s (status %d)\n", e.what(), int(e.status));
  return 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
