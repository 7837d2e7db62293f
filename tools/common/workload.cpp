#include "tools/common/workload.hpp"

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>

#include "codegen/spec/semantics.hpp"
#include "runtime/core/element.hpp"
#include "runtime/reference/reference.hpp"

namespace attngen {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

void put(std::vector<uint8_t>& buf, ElemType t, size_t idx, double x) {
  store_element(t, buf.data() + idx * elem_size(t), x);
}

double get(const std::vector<uint8_t>& buf, ElemType t, size_t idx) {
  return load_element(t, buf.data() + idx * elem_size(t));
}

// Random document ids: non-decreasing runs of random length, ids from 0.
void random_docs(std::mt19937_64& rng, int32_t* ids, int64_t n) {
  int32_t id = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (i > 0 && rng() % 7 == 0) ++id;
    ids[i] = id;
  }
}

}  // namespace

uint64_t physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : 0;
}

std::optional<uint64_t> tensor_bytes(const std::vector<int64_t>& shape, ElemType type) {
  for (int64_t d : shape)
    if (d == 0) return 0;
  uint64_t n = elem_size(type);
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, uint64_t(d), &n)) return std::nullopt;
  return n;
}

void check_workload_fits(const std::string& what, const Spec& s, const WorkloadOptions& opt) {
  const int64_t B = opt.batch, Sq = opt.sq, Skv = opt.skv;
  const std::vector<int64_t> shapes[] = {
      {B, s.num_heads, Sq, s.head_dim},      {B, s.num_kv_heads, Skv, s.head_dim},
      {B, s.num_kv_heads, Skv, s.head_dim_v}, {B, s.num_heads, Sq, s.head_dim_v},
      {B, s.num_heads, Sq, s.head_dim_v}};  // Q, K, V, O and the reference's O
  uint64_t total = 0;
  bool overflow = false;
  auto add = [&](std::optional<uint64_t> n) { overflow = overflow || !n || __builtin_add_overflow(total, *n, &total); };
  for (const auto& shape : shapes) add(tensor_bytes(shape, s.dtype));
  add(tensor_bytes({2, B, s.num_heads, Sq}, ElemType::f32));  // LSE and the reference's
  if (s.find_mask<DocumentMask>()) add(tensor_bytes({B, Sq + Skv}, ElemType::i32));
  if (s.find_mask<CustomMask>()) add(tensor_bytes({B, s.num_heads, Sq, Skv}, ElemType::f32));
  const uint64_t memory = physical_memory_bytes();
  if (!overflow && (memory == 0 || total <= memory)) return;
  throw Error(what + ": B=" + std::to_string(B) + " Sq=" + std::to_string(Sq) + " Skv=" + std::to_string(Skv) +
              " (Hq=" + std::to_string(s.num_heads) + ", Hkv=" + std::to_string(s.num_kv_heads) +
              ", D=" + std::to_string(s.head_dim) + ", " + elem_name(s.dtype) + ") needs " +
              (overflow ? std::string("more than 2^64 bytes") : std::to_string(total) + " bytes") +
              " of tensors, more than this machine's memory (" + std::to_string(memory) +
              " bytes); choose a smaller --batch, --q-len or --kv-len");
}

std::vector<int64_t> Workload::q_shape() const {
  const Spec& s = spec_;
  return s.layout == Layout::bhsd ? std::vector<int64_t>{opt_.batch, s.num_heads, opt_.sq, s.head_dim}
                                  : std::vector<int64_t>{opt_.batch, opt_.sq, s.num_heads, s.head_dim};
}
std::vector<int64_t> Workload::kv_shape(int dim) const {
  const Spec& s = spec_;
  return s.layout == Layout::bhsd ? std::vector<int64_t>{opt_.batch, s.num_kv_heads, opt_.skv, dim}
                                  : std::vector<int64_t>{opt_.batch, opt_.skv, s.num_kv_heads, dim};
}
std::vector<int64_t> Workload::o_shape() const {
  std::vector<int64_t> sh = q_shape();
  sh[3] = spec_.head_dim_v;
  return sh;
}

Workload::Workload(const Spec& spec, const WorkloadOptions& opt) : spec_(spec), opt_(opt) {
  const Spec& s = spec_;
  const int64_t B = opt.batch, Sq = opt.sq, Skv = opt.skv;
  std::mt19937_64 rng(opt.seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  const size_t es = elem_size(s.dtype);

  if (s.has_padding()) {
    for (int64_t b = 0; b < B; ++b) {
      // Entry 1 of a batch of 3 or more is empty, to cover zero lengths.
      const bool empty = !opt.full_lengths && B >= 3 && b == 1;
      kv_lens_.push_back(empty ? 0 : opt.full_lengths ? int32_t(Skv) : int32_t(rng() % (Skv + 1)));
      q_lens_.push_back(empty ? 0 : opt.full_lengths ? int32_t(Sq) : int32_t(rng() % (Sq + 1)));
    }
  }
  auto q_len = [&](int64_t b) { return q_lens_.empty() ? Sq : q_lens_[size_t(b)]; };
  auto kv_len = [&](int64_t b) { return kv_lens_.empty() ? Skv : kv_lens_[size_t(b)]; };

  // Q, K, V with NaN at positions past the lengths (they must never be read).
  auto fill = [&](std::vector<uint8_t>& buf, const std::vector<int64_t>& shape, bool is_q) {
    buf.assign(size_t(shape[0] * shape[1] * shape[2] * shape[3]) * es, 0);
    const bool bhsd = s.layout == Layout::bhsd;
    size_t idx = 0;
    for (int64_t a0 = 0; a0 < shape[0]; ++a0)
      for (int64_t a1 = 0; a1 < shape[1]; ++a1)
        for (int64_t a2 = 0; a2 < shape[2]; ++a2) {
          const int64_t pos = bhsd ? a2 : a1;
          const bool padded = pos >= (is_q ? q_len(a0) : kv_len(a0));
          for (int64_t d = 0; d < shape[3]; ++d, ++idx)
            put(buf, s.dtype, idx, padded && opt.poison ? kNaN : normal(rng));
        }
  };
  fill(q_, q_shape(), true);
  fill(k_, kv_shape(s.head_dim), false);
  fill(v_, kv_shape(s.head_dim_v), false);
  o_.assign(size_t(B * s.num_heads * Sq * s.head_dim_v) * es, 0);
  lse_.assign(size_t(B * s.num_heads * Sq), 0.f);
  poison_outputs();

  if (s.find_mask<DocumentMask>()) {
    q_doc_.resize(size_t(B * Sq));
    kv_doc_.resize(size_t(B * Skv));
    for (int64_t b = 0; b < B; ++b) {
      random_docs(rng, kv_doc_.data() + b * Skv, Skv);
      random_docs(rng, q_doc_.data() + b * Sq, Sq);
    }
  }
  if (s.needs_prefix_lens())
    for (int64_t b = 0; b < B; ++b) prefix_lens_.push_back(opt.full_lengths ? int32_t(Skv) : int32_t(rng() % (Skv + 1)));
  if (s.find_mod<AlibiMod>())
    for (int h = 0; h < s.num_heads; ++h) slopes_.push_back(float(std::exp2(-8.0 * (h + 1) / s.num_heads)));

  if (const CustomMask* cm = s.find_mask<CustomMask>()) {
    const bool additive = cm->format == CustomFormat::additive;
    switch (opt.mask_shape) {
      case MaskShape::full: mask_shape_ = {B, s.num_heads, Sq, Skv}; break;
      case MaskShape::per_batch: mask_shape_ = {B, 1, Sq, Skv}; break;
      case MaskShape::shared: mask_shape_ = {Sq, Skv}; break;
    }
    int64_t n = 1;
    for (int64_t d : mask_shape_) n *= d;
    const ElemType mt = mask_type();
    mask_.assign(size_t(n) * elem_size(mt), 0);
    for (int64_t idx = 0; idx < n; ++idx) {
      const int64_t i = (idx / Skv) % Sq, j = idx % Skv;
      bool keep = true;
      double bias = 0;
      switch (opt.custom) {
        case CustomMaskKind::keep_all: break;
        case CustomMaskKind::block_sparse:
          // A banded block pattern: about a third of the blocks are kept.
          keep = ((i / opt.block) + 2 * (j / opt.block)) % 3 == 0;
          break;
        case CustomMaskKind::random:
          keep = rng() % 10 < 7 && i != 2;  // row 2 is fully masked everywhere
          bias = additive ? std::uniform_real_distribution<double>(-2, 2)(rng) : 0;
          break;
      }
      put(mask_, mt, size_t(idx), additive ? (keep ? bias : -kInf) : keep);
    }
  }
}

ElemType Workload::mask_type() const {
  const CustomMask* cm = spec_.find_mask<CustomMask>();
  if (!cm || cm->format == CustomFormat::boolean) return ElemType::b8;
  return opt_.additive_in_spec_dtype ? spec_.dtype : ElemType::f32;
}

void Workload::poison_outputs() {
  const size_t es = elem_size(spec_.dtype);
  for (size_t i = 0; i < o_.size() / es; ++i) put(o_, spec_.dtype, i, kNaN);
  std::fill(lse_.begin(), lse_.end(), std::numeric_limits<float>::quiet_NaN());
}

AttentionArgs Workload::args() { return args_into(o_.data(), lse_.data()); }

AttentionArgs Workload::args_into(void* o, float* lse) {
  const Spec& s = spec_;
  const int64_t B = opt_.batch;
  AttentionArgs a;
  a.q = contiguous_view(q_.data(), s.dtype, q_shape());
  a.k = contiguous_view(k_.data(), s.dtype, kv_shape(s.head_dim));
  a.v = contiguous_view(v_.data(), s.dtype, kv_shape(s.head_dim_v));
  a.o = contiguous_view(o, s.dtype, o_shape());
  if (s.return_lse) a.lse = contiguous_view(lse, ElemType::f32, {B, s.num_heads, opt_.sq});
  if (!kv_lens_.empty()) {
    a.kv_lens = contiguous_view(kv_lens_.data(), ElemType::i32, {B});
    a.q_lens = contiguous_view(q_lens_.data(), ElemType::i32, {B});
  }
  if (s.find_mask<DocumentMask>()) {
    a.q_doc = contiguous_view(q_doc_.data(), ElemType::i32, {B, opt_.sq});
    a.kv_doc = contiguous_view(kv_doc_.data(), ElemType::i32, {B, opt_.skv});
  }
  if (s.needs_prefix_lens()) a.prefix_lens = contiguous_view(prefix_lens_.data(), ElemType::i32, {B});
  if (!slopes_.empty()) a.alibi_slopes = contiguous_view(slopes_.data(), ElemType::f32, {s.num_heads});
  if (s.find_mask<CustomMask>()) a.mask = contiguous_view(mask_.data(), mask_type(), mask_shape_);
  return a;
}

int64_t Workload::allowed_elements() {
  // Counted with the reference's own definition: run it on a spec without
  // score mods and D = Dv = 1 would change semantics, so count directly.
  const Spec& s = spec_;
  BoundArgs a = bind_args(s, args());
  const CustomMask* cm = s.find_mask<CustomMask>();
  const bool doc = s.find_mask<DocumentMask>() != nullptr;
  int64_t total = 0;
  for (int64_t b = 0; b < a.batch; ++b) {
    RowContext ctx{a.q_len(b), a.kv_len(b), 0};
    if (const PrefixLmMask* p = s.find_mask<PrefixLmMask>()) ctx.prefix_len = p->prefix ? *p->prefix : prefix_lens_[size_t(b)];
    for (int64_t i = 0; i < ctx.sq; ++i) {
      const KeyInterval r = allowed_interval(s, i, ctx);
      if (r.empty()) continue;
      if (!cm && !doc) {
        total += (r.hi - r.lo + 1) * s.num_heads;
        continue;
      }
      for (int h = 0; h < s.num_heads; ++h)
        for (int64_t j = r.lo; j <= r.hi; ++j) {
          if (doc && q_doc_[size_t(b * opt_.sq + i)] != kv_doc_[size_t(b * opt_.skv + j)]) continue;
          if (cm) {
            const char* p = element_ptr(a.t.mask, b, h, i, j);
            if (cm->format == CustomFormat::boolean ? *p == 0 : get(mask_, mask_type(), size_t((p - reinterpret_cast<const char*>(mask_.data())) / int64_t(elem_size(mask_type())))) == -kInf) continue;
          }
          ++total;
        }
    }
  }
  return total;
}

ReferenceOutputs reference_outputs(Workload& w, int threads) {
  Spec ref_spec = w.spec();
  ref_spec.return_lse = true;  // the reference's LSE tells which rows are empty
  ReferenceOutputs ref;
  ref.o.resize(w.o_bytes());
  ref.lse.resize(size_t(w.options().batch * w.spec().num_heads * w.options().sq));
  AttentionArgs a = w.args_into(ref.o.data(), ref.lse.data());
  a.lse = contiguous_view(ref.lse.data(), ElemType::f32, {w.options().batch, w.spec().num_heads, w.options().sq});
  reference_backend().compile(ref_spec)->run(a, RunOptions{threads});
  return ref;
}

Comparison compare_with_reference(Workload& w, const std::vector<uint8_t>& o, const std::vector<float>* lse,
                                  int threads) {
  return compare_with_reference(w, o, lse, reference_outputs(w, threads));
}

Comparison compare_with_reference(const Workload& w, const std::vector<uint8_t>& o, const std::vector<float>* lse,
                                  const ReferenceOutputs& ref) {
  const std::vector<uint8_t>& ref_o = ref.o;
  const std::vector<float>& ref_lse = ref.lse;
  const Spec& s = w.spec();
  Comparison c;
  const int64_t dv = s.head_dim_v, H = s.num_heads, Sq = w.options().sq;
  const bool bhsd = s.layout == Layout::bhsd;
  double num = 0, den = 0;
  for (int64_t b = 0; b < w.options().batch; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Sq; ++i) {
        const size_t row = size_t(((b * H + h) * Sq + i));
        const size_t base = size_t(bhsd ? ((b * H + h) * Sq + i) * dv : ((b * Sq + i) * H + h) * dv);
        const bool empty = ref_lse[row] == -kInf;
        c.empty_rows += empty;
        bool nonzero = false;
        for (int64_t d = 0; d < dv; ++d) {
          const double x = get(o, s.dtype, base + size_t(d)), r = get(ref_o, s.dtype, base + size_t(d));
          if (!std::isfinite(x)) ++c.nonfinite;
          nonzero = nonzero || x != 0;
          num += (x - r) * (x - r);
          den += r * r;
          c.max_abs_err = std::max(c.max_abs_err, std::fabs(x - r));
        }
        c.empty_rows_nonzero += empty && nonzero;
        if (lse) {
          const double l = (*lse)[row];
          if ((l == -kInf) != empty || std::isnan(l)) ++c.lse_mismatched_empty;
          else if (!empty) c.lse_max_abs_err = std::max(c.lse_max_abs_err, std::fabs(l - double(ref_lse[row])));
        }
      }
  c.lse_compared = lse != nullptr;
  c.rel_err = den > 0 ? std::sqrt(num) / std::sqrt(den) : std::sqrt(num);
  if (std::isnan(num)) c.rel_err = kInf;
  return c;
}

std::string Comparison::summary() const {
  std::ostringstream os;
  os << "rel_err " << rel_err << ", max_abs_err " << max_abs_err << ", nonfinite " << nonfinite << ", empty rows "
     << empty_rows << " (" << empty_rows_nonzero << " not exactly 0)";
  if (lse_compared) os << ", lse max_abs_err " << lse_max_abs_err << ", lse -inf mismatches " << lse_mismatched_empty;
  return os.str();
}

double default_tolerance(ElemType dtype) {
  switch (dtype) {
    case ElemType::f16: return 4e-3;
    case ElemType::bf16: return 1.6e-2;
    default: return 2e-5;
  }
}

}  // namespace attngen
