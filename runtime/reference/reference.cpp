// The reference backend: spec v1 computed by plain loops in float64. It is the
// oracle every other backend is tested against, so it favours being obviously
// right over being fast: each mask is evaluated from its definition in
// codegen/spec/semantics.hpp, element by element.
#include "runtime/reference/reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "codegen/spec/semantics.hpp"
#include "runtime/core/element.hpp"

namespace attngen {
namespace {

double load(const TensorRef& t, const char* p) { return load_element(t.type, p); }

void store(const TensorRef& t, char* p, double x) { store_element(t.type, p, x); }

int32_t load_i32(const TensorRef& t, int64_t i0, int64_t i1 = 0) {
  return *reinterpret_cast<const int32_t*>(element_ptr(t, i0, i1));
}

class ReferenceKernel final : public Kernel {
 public:
  explicit ReferenceKernel(const Spec& s) : Kernel(s, "reference", "scalar-f64") {}

  // One item per (batch entry, query head).
  std::unique_ptr<CallPlan> plan_call(const BoundArgs& a, int) const override {
    struct Plan final : CallPlan {
      const ReferenceKernel* k;
      BoundArgs a;
      size_t items() const override { return size_t(a.batch * k->spec().num_heads); }
      void run_item(size_t i) const override {
        k->head(a, int64_t(i) / k->spec().num_heads, int64_t(i) % k->spec().num_heads);
      }
    };
    if (const CustomMask* c = spec().find_mask<CustomMask>(); c && c->format == CustomFormat::additive)
      check_additive_mask(a, spec().num_heads);
    auto p = std::make_unique<Plan>();
    p->k = this, p->a = a;
    return p;
  }

 private:
  // One (batch entry, query head): every query row.
  void head(const BoundArgs& a, int64_t b, int64_t h) const {
    const Spec& s = spec();
    const AttentionArgs& t = a.t;
    const int64_t hk = h / s.group_size();
    const int64_t q_len = a.q_len(b), kv_len = a.kv_len(b);
    RowContext ctx{q_len, kv_len, 0};
    if (const PrefixLmMask* p = s.find_mask<PrefixLmMask>())
      ctx.prefix_len = p->prefix ? *p->prefix : load_i32(t.prefix_lens, b);
    const SoftcapMod* cap = s.find_mod<SoftcapMod>();
    const double slope = s.find_mod<AlibiMod>() ? load(t.alibi_slopes, element_ptr(t.alibi_slopes, b, h)) : 0;
    const CustomMask* custom = s.find_mask<CustomMask>();
    const bool document = s.find_mask<DocumentMask>() != nullptr;
    const double neg_inf = -std::numeric_limits<double>::infinity();

    const size_t D = size_t(s.head_dim), Dv = size_t(s.head_dim_v);
    std::vector<double> q(D), out(Dv);
    std::vector<double> score(static_cast<size_t>(kv_len));
    // The head's keys and values as doubles, read once rather than once a
    // query row (otherwise the largest single cost of the sweeps); not at all
    // for an entry without queries.
    const int64_t kv_read = q_len > 0 ? kv_len : 0;
    std::vector<double> k(size_t(kv_read) * D), v(size_t(kv_read) * Dv);
    for (int64_t j = 0; j < kv_read; ++j) {
      for (size_t d = 0; d < D; ++d) k[size_t(j) * D + d] = load(t.k, element_ptr(t.k, b, hk, j, int64_t(d)));
      for (size_t d = 0; d < Dv; ++d) v[size_t(j) * Dv + d] = load(t.v, element_ptr(t.v, b, hk, j, int64_t(d)));
    }
    for (int64_t i = 0; i < a.sq; ++i) {
      double m = neg_inf;
      bool nan_row = false;
      if (i < q_len) {
        for (size_t d = 0; d < D; ++d) q[d] = load(t.q, element_ptr(t.q, b, h, i, int64_t(d)));
        // Keys at j >= kv_len are never read.
        for (int64_t j = 0; j < kv_len; ++j) {
          score[size_t(j)] = allowed(a, b, h, i, j, ctx, custom, document) ? 0 : neg_inf;
          if (score[size_t(j)] == neg_inf) continue;
          const double dot = dot_product(q.data(), &k[size_t(j) * D], D);
          // Scores are f32 in every fast backend: past the f32 range they are infinite here too.
          double sc = f32_range(s.scale * dot);
          if (cap) sc = softcap(sc, cap->cap);
          if (slope != 0) sc += alibi_bias(slope, i, j, ctx);
          if (custom && custom->format == CustomFormat::additive)
            sc += load(t.mask, element_ptr(t.mask, b, h, i, j));
          score[size_t(j)] = sc;
          if (std::isnan(sc)) nan_row = true;
          m = std::max(m, sc);
        }
      }
      std::fill(out.begin(), out.end(), 0.0);
      double lse = neg_inf;
      if (nan_row) {  // NaN/Inf data (or an f32 overflow) in what the row reads: NaN, never "masked"
        std::fill(out.begin(), out.end(), std::numeric_limits<double>::quiet_NaN());
        lse = std::numeric_limits<double>::quiet_NaN();
      } else if (m != neg_inf) {  // a row with no allowed key outputs 0 and LSE -inf
        double sum = 0;
        for (int64_t j = 0; j < kv_len; ++j) {
          if (score[size_t(j)] == neg_inf) continue;
          const double p = std::exp(score[size_t(j)] - m);
          sum += p;
          for (size_t d = 0; d < Dv; ++d) out[d] += p * v[size_t(j) * Dv + d];
        }
        for (double& o : out) o /= sum;
        lse = m + std::log(sum);
      }
      for (size_t d = 0; d < Dv; ++d) store(t.o, const_cast<char*>(element_ptr(t.o, b, h, i, int64_t(d))), out[d]);
      if (s.return_lse) *reinterpret_cast<float*>(const_cast<char*>(element_ptr(t.lse, b, h, i))) = float(lse);
    }
  }

  // Four partial sums: float64's rounding is far below every tolerance, and
  // one chain of dependent adds was most of the reference's time.
  static double dot_product(const double* x, const double* y, size_t n) {
    double part[4] = {0, 0, 0, 0};
    size_t d = 0;
    for (; d + 4 <= n; d += 4)
      for (size_t u = 0; u < 4; ++u) part[u] += x[d + u] * y[d + u];
    for (; d < n; ++d) part[0] += x[d] * y[d];
    return (part[0] + part[1]) + (part[2] + part[3]);
  }

  static double f32_range(double x) {
    const double big = std::numeric_limits<float>::max();
    return x > big ? std::numeric_limits<double>::infinity() : x < -big ? -std::numeric_limits<double>::infinity() : x;
  }

  // The AND of every boolean mask for one pair; additive masks are scores.
  bool allowed(const BoundArgs& a, int64_t b, int64_t h, int64_t i, int64_t j, const RowContext& ctx,
               const CustomMask* custom, bool document) const {
    for (const Mask& m : spec().masks)
      if (!allows(m, i, j, ctx)) return false;
    if (document && load_i32(a.t.q_doc, b, i) != load_i32(a.t.kv_doc, b, j)) return false;
    if (custom && custom->format == CustomFormat::boolean && load(a.t.mask, element_ptr(a.t.mask, b, h, i, j)) == 0)
      return false;
    return true;
  }
};

class ReferenceBackend final : public Backend {
 public:
  std::string name() const override { return "reference"; }
  std::string isa() const override { return "scalar-f64"; }
  bool serialises() const override { return false; }  // compiling is building a small object
  std::unique_ptr<Kernel> compile(const Spec& spec) const override { return std::make_unique<ReferenceKernel>(spec); }
};

}  // namespace

const Backend& reference_backend() {
  static const ReferenceBackend backend;
  return backend;
}

}  // namespace attngen
