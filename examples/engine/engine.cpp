// A small decoder-attention loop over attngen's public API only, the way a
// host engine (an LLM server, a BitNet-style runtime) would drive it:
//
//  * one spec, compiled once: bf16, GQA, bshd, padding + bottom-right causal;
//  * batched prefill of prompts of different lengths: Q is a strided view
//    into a fused QKV projection buffer [B, S, Hq + 2 Hkv, D], K and V are
//    copied into a preallocated KV cache [B, Hkv, capacity, D] per layer and
//    read back through strided views (no copies, capacity > length);
//  * token-by-token decode (q_len 1) with kv_lens growing each step.
//
// Every step of the first --check-layers layers is compared with the float64
// reference backend (compiled through the same API). Prints attention
// throughput for prefill and decode. Defaults: BitNet b1.58 2B4T attention
// (Hq 20, Hkv 5, D 128, context up to 4096).
#include <attngen/attngen.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <vector>

#include <sys/mman.h>

namespace {

using attngen::api::Kernel;
using attngen::api::tensor;

// One layer's K or V cache (bf16 elements, zeroed) on huge pages where the OS
// gives them: Linux's transparent huge pages in `madvise` mode (Debian's
// default) need the advice. Decoding reads the cache from DRAM, and huge
// pages save its page walks: 1.05-1.24x on a Zen 4 EPYC (docs/perf.md).
class KvCacheBuffer {
 public:
  explicit KvCacheBuffer(size_t elems) {
    constexpr size_t kHuge = size_t(2) << 20;
    const size_t bytes = (std::max<size_t>(elems, 1) * sizeof(uint16_t) + kHuge - 1) / kHuge * kHuge;
    data_.reset(static_cast<uint16_t*>(std::aligned_alloc(kHuge, bytes)));
    if (!data_) throw std::bad_alloc();
    (void)madvise(data_.get(), bytes, MADV_HUGEPAGE);  // advice only: 4 KiB pages work too
    std::memset(data_.get(), 0, bytes);                // touched after the advice
  }
  uint16_t* data() const { return data_.get(); }
  uint16_t& operator[](size_t i) const { return data_.get()[i]; }

 private:
  struct Free {
    void operator()(uint16_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint16_t, Free> data_;
};

struct Options {
  int layers = 8, decode_steps = 16, check_layers = 1, threads = 0;
  int64_t heads = 20, kv_heads = 5, head_dim = 128, capacity = 4096;
  std::vector<int64_t> prompts = {256, 512, 1024, 2000};
};

void usage() {
  std::printf(
      "usage: attngen_engine [--layers N] [--prompts L1,L2,...] [--decode-steps N] [--capacity C]\n"
      "                      [--heads Hq] [--kv-heads Hkv] [--head-dim D] [--threads N] [--check-layers N]\n");
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") usage(), std::exit(0);
    if (i + 1 >= argc) usage(), std::exit(2);
    const char* v = argv[++i];
    if (a == "--layers") o.layers = std::atoi(v);
    else if (a == "--decode-steps") o.decode_steps = std::atoi(v);
    else if (a == "--check-layers") o.check_layers = std::atoi(v);
    else if (a == "--threads") o.threads = std::atoi(v);
    else if (a == "--heads") o.heads = std::atoll(v);
    else if (a == "--kv-heads") o.kv_heads = std::atoll(v);
    else if (a == "--head-dim") o.head_dim = std::atoll(v);
    else if (a == "--capacity") o.capacity = std::atoll(v);
    else if (a == "--prompts") {
      o.prompts.clear();
      for (const char* p = v; *p;) {
        o.prompts.push_back(std::strtoll(p, const_cast<char**>(&p), 10));
        if (*p == ',') ++p;
        else if (*p) usage(), std::exit(2);
      }
    } else {
      usage(), std::exit(2);
    }
  }
  return o;
}

uint16_t to_bf16(float x) {  // round to nearest even
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return uint16_t((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}
float from_bf16(uint16_t h) {
  const uint32_t u = uint32_t(h) << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// ||o - ref|| / ||ref|| over every element (both bf16).
double rel_err(const std::vector<uint16_t>& o, const std::vector<uint16_t>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < o.size(); ++i) {
    const double d = double(from_bf16(o[i])) - from_bf16(ref[i]);
    num += d * d;
    den += double(from_bf16(ref[i])) * from_bf16(ref[i]);
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

class Engine {
 public:
  explicit Engine(const Options& o)
      : o_(o), B_(int64_t(o.prompts.size())), W_(o.heads + 2 * o.kv_heads), rng_(42) {
    const std::string spec = "{\"dtype\": \"bf16\", \"head_dim\": " + std::to_string(o.head_dim) +
                             ", \"num_heads\": " + std::to_string(o.heads) + ", \"num_kv_heads\": " +
                             std::to_string(o.kv_heads) + ", \"layout\": \"bshd\", \"mask\": [{\"type\": \"padding\"}, "
                             "{\"type\": \"causal\", \"align\": \"bottom_right\"}]}";
    attn_ = Kernel::compile(spec, "auto", o.threads);
    ref_ = Kernel::compile(spec, "reference", o.threads);
    std::printf("kernel  %s backend %s isa %s\n", attn_.key().c_str(), attn_.backend().c_str(), attn_.isa().c_str());
    const size_t cache_elems = size_t(B_ * o.kv_heads * o.capacity * o.head_dim);
    for (int layer = 0; layer < o.layers; ++layer) {
      k_cache_.emplace_back(cache_elems);
      v_cache_.emplace_back(cache_elems);
    }
    lens_.assign(o.prompts.begin(), o.prompts.end());
  }

  // Returns false when a checked step exceeds the bf16 tolerance.
  bool prefill(double* seconds, double* flops) {
    const int64_t S = *std::max_element(lens_.begin(), lens_.end());
    bool ok = true;
    for (int layer = 0; layer < o_.layers; ++layer) {
      project(layer, S, /*pos0 of entry b=*/std::vector<int64_t>(size_t(B_), 0), lens_);
      ok &= attend(layer, S, S, lens_, /*q_lens=*/true, seconds, "prefill");
    }
    for (int64_t n : lens_) *flops += double(o_.layers) * 4.0 * double(o_.heads * o_.head_dim) * double(n * (n + 1) / 2);
    return ok;
  }

  bool decode_step(int step, double* seconds, double* kv_bytes) {
    std::vector<int64_t> pos = lens_;  // the new token's position per entry
    for (int64_t& n : lens_) ++n;
    const int64_t skv = *std::max_element(lens_.begin(), lens_.end());
    bool ok = true;
    for (int layer = 0; layer < o_.layers; ++layer) {
      project(layer, 1, pos, std::vector<int64_t>(size_t(B_), 1));
      ok &= attend(layer, 1, skv, lens_, /*q_lens=*/false, seconds, ("decode " + std::to_string(step)).c_str());
    }
    for (int64_t n : lens_) *kv_bytes += double(o_.layers) * 2.0 * double(n * o_.kv_heads * o_.head_dim) * 2;
    return ok;
  }

  int64_t batch() const { return B_; }
  double max_err() const { return max_err_; }

 private:
  // Random "projections" of S new tokens into the fused QKV buffer; the K and
  // V parts of valid tokens go into the layer's cache at pos0[b] + s.
  void project(int layer, int64_t S, const std::vector<int64_t>& pos0, const std::vector<int64_t>& valid) {
    const int64_t D = o_.head_dim, Hkv = o_.kv_heads, cap = o_.capacity;
    qkv_.resize(size_t(B_ * S * W_ * D));
    std::uniform_real_distribution<float> u(-2.f, 2.f);
    for (uint16_t& x : qkv_) x = to_bf16(u(rng_));
    for (int64_t b = 0; b < B_; ++b)
      for (int64_t s = 0; s < std::min(S, valid[size_t(b)]); ++s)
        for (int64_t h = 0; h < Hkv; ++h) {
          const uint16_t* kv = &qkv_[size_t(((b * S + s) * W_ + o_.heads + h) * D)];
          const size_t at = size_t(((b * Hkv + h) * cap + pos0[size_t(b)] + s) * D);
          std::copy(kv, kv + D, &k_cache_[size_t(layer)][at]);
          std::copy(kv + Hkv * D, kv + (Hkv + 1) * D, &v_cache_[size_t(layer)][at]);
        }
  }

  // Attention of the S queries in qkv_ over the first skv cache positions.
  bool attend(int layer, int64_t S, int64_t skv, const std::vector<int64_t>& lens, bool with_q_lens, double* seconds,
              const char* what) {
    const int64_t D = o_.head_dim, Hq = o_.heads, Hkv = o_.kv_heads, cap = o_.capacity;
    std::vector<int32_t> lens32(lens.begin(), lens.end());
    o_buf_.resize(size_t(B_ * S * Hq * D));
    attngen_args a{};
    a.q = tensor(qkv_.data(), ATTNGEN_BF16, {B_, S, Hq, D}, {S * W_ * D, W_ * D, D, 1});  // Q slice of QKV
    // The cache is [B, Hkv, capacity, D]; the spec's bshd view swaps strides.
    a.k = tensor(k_cache_[size_t(layer)].data(), ATTNGEN_BF16, {B_, skv, Hkv, D}, {Hkv * cap * D, D, cap * D, 1});
    a.v = tensor(v_cache_[size_t(layer)].data(), ATTNGEN_BF16, {B_, skv, Hkv, D}, {Hkv * cap * D, D, cap * D, 1});
    a.o = tensor(o_buf_.data(), ATTNGEN_BF16, {B_, S, Hq, D});
    a.kv_lens = tensor(lens32.data(), ATTNGEN_I32, {B_});
    if (with_q_lens) a.q_lens = tensor(lens32.data(), ATTNGEN_I32, {B_});
    const auto t0 = std::chrono::steady_clock::now();
    attn_.run(a);
    *seconds += seconds_since(t0);
    if (layer >= o_.check_layers) return true;
    ref_buf_.resize(o_buf_.size());
    a.o = tensor(ref_buf_.data(), ATTNGEN_BF16, {B_, S, Hq, D});
    ref_.run(a);
    const double err = rel_err(o_buf_, ref_buf_);
    const bool ok = err <= 1.6e-2;
    if (!ok) std::printf("%s layer %d: rel_err %.3g exceeds 1.6e-2\n", what, layer, err);
    max_err_ = std::max(max_err_, err);
    return ok;
  }

  Options o_;
  int64_t B_, W_;
  std::mt19937 rng_;
  Kernel attn_, ref_;
  std::vector<KvCacheBuffer> k_cache_, v_cache_;
  std::vector<uint16_t> qkv_, o_buf_, ref_buf_;
  std::vector<int64_t> lens_;
  double max_err_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  int64_t longest = 0;
  for (int64_t n : o.prompts) longest = std::max(longest, n);
  if (o.prompts.empty() || longest + o.decode_steps > o.capacity || o.layers < 1 || o.decode_steps < 0) {
    std::fprintf(stderr, "attngen_engine: need prompts, layers >= 1 and longest prompt + decode steps <= capacity\n");
    return 2;
  }
  try {
    Engine e(o);
    std::printf("shapes  B %lld, Hq %lld, Hkv %lld, D %lld, capacity %lld, layers %d, prompts", (long long)e.batch(),
                (long long)o.heads, (long long)o.kv_heads, (long long)o.head_dim, (long long)o.capacity, o.layers);
    for (int64_t n : o.prompts) std::printf(" %lld", (long long)n);
    std::printf(", %d decode steps, %d checked layers\n", o.decode_steps, o.check_layers);

    double prefill_s = 0, prefill_flops = 0, decode_s = 0, kv_bytes = 0;
    bool ok = e.prefill(&prefill_s, &prefill_flops);
    int64_t tokens = 0;
    for (int64_t n : o.prompts) tokens += n;
    std::printf("prefill %lld tokens x %d layers: %.3f ms, %.1f GFLOP/s, %.0f tokens/s\n", (long long)tokens, o.layers,
                prefill_s * 1e3, prefill_flops / prefill_s * 1e-9, double(tokens) / prefill_s);
    for (int step = 0; step < o.decode_steps; ++step) ok &= e.decode_step(step, &decode_s, &kv_bytes);
    if (o.decode_steps > 0) {
      const double calls = double(o.decode_steps) * o.layers;
      std::printf("decode  %d steps x %d layers: %.1f us per layer call, %.0f tokens/s (attention only), %.1f GB/s KV read\n",
                  o.decode_steps, o.layers, decode_s / calls * 1e6, double(e.batch()) * o.decode_steps / decode_s,
                  kv_bytes / decode_s * 1e-9);
    }
    std::printf("check   max rel_err vs reference %.3g (tolerance 1.6e-2): %s\n", e.max_err(), ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
  } catch (const attngen::api::Error& err) {
    std::fprintf(stderr, "attngen_engine: %s\n", err.what());
    return 1;
  }
}
