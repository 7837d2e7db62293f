#include "codegen/source/spec_source.hpp"

#include <cstdio>
#include <sstream>

namespace attngen::source {

std::string float_literal(float v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%af", double(v));
  return buf;
}

std::string double_literal(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a", v);
  return buf;
}

const char* dtype_macro(ElemType t) {
  switch (t) {
    case ElemType::f16: return "AG_DTYPE_F16";
    case ElemType::bf16: return "AG_DTYPE_BF16";
    default: return "AG_DTYPE_F32";
  }
}

std::string render_spec_constants(const Spec& s) {
  const CustomMask* custom = s.find_mask<CustomMask>();
  const bool custom_bool = custom && custom->format == CustomFormat::boolean;
  const bool custom_additive = custom && custom->format == CustomFormat::additive;
  const bool document = s.find_mask<DocumentMask>() != nullptr;
  std::ostringstream o;
  o << "#define AG_DTYPE_F32 0\n#define AG_DTYPE_F16 1\n#define AG_DTYPE_BF16 2\n"
    << "#define AG_DTYPE " << dtype_macro(s.dtype) << "\n"
    << "#define AG_NUM_HEADS " << s.num_heads << "\n"
    << "#define AG_GROUP " << s.group_size() << "\n"
    << "#define AG_HEAD_DIM " << s.head_dim << "\n"
    << "#define AG_HEAD_DIM_V " << s.head_dim_v << "\n"
    << "#define AG_SCALE " << float_literal(float(s.scale)) << "\n"
    << "#define AG_HAS_ALIBI " << int(s.find_mod<AlibiMod>() != nullptr) << "\n"
    << "#define AG_HAS_DOCUMENT " << int(document) << "\n"
    << "#define AG_HAS_CUSTOM_BOOL " << int(custom_bool) << "\n"
    << "#define AG_HAS_CUSTOM_ADDITIVE " << int(custom_additive) << "\n"
    << "#define AG_HAS_DATA_MASK " << int(document || custom_bool) << "\n"
    << "#define AG_RETURN_LSE " << int(s.return_lse) << "\n";
  return o.str();
}

namespace {

// The aligned query index i' of docs/spec.md as a C expression.
std::string aligned(Align a) { return a == Align::top_left ? "i" : "(i + c.skv - c.sq)"; }

}  // namespace

std::string render_row_masks(const Spec& s, const std::string& q) {
  const PrefixLmMask* prefix = s.find_mask<PrefixLmMask>();
  std::ostringstream o;
  o << "struct AgRowCtx {\n  ag_i64 sq, skv, prefix;  // this entry's Sq, Skv, prefix_lm prefix\n};\n"
    << q << " ag_i64 ag_floor_div(ag_i64 a, ag_i64 b) {\n"
    << "  const ag_i64 q = a / b;\n  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;\n}\n"
    << q << " ag_i64 ag_static_prefix() { return "
    << (prefix && prefix->prefix ? std::to_string(*prefix->prefix) : "0") << "LL; }\n";
  o << q << " void allowed_keys(ag_i64 i, const AgRowCtx& c, ag_i64& lo, ag_i64& hi) {\n"
    << "  (void)i;\n  (void)c;\n  lo = 0;\n  hi = c.skv - 1;\n";
  auto clip_lo = [&](const std::string& e) { o << "  { const ag_i64 v = " << e << "; lo = v > lo ? v : lo; }\n"; };
  auto clip_hi = [&](const std::string& e) { o << "  { const ag_i64 v = " << e << "; hi = v < hi ? v : hi; }\n"; };
  for (const Mask& m : s.masks) {
    if (const auto* x = std::get_if<CausalMask>(&m)) {
      o << "  // causal, " << align_name(x->align) << ": j <= i'\n";
      clip_hi(aligned(x->align));
    } else if (const auto* x = std::get_if<SlidingWindowMask>(&m)) {
      o << "  // sliding_window, " << align_name(x->align) << ": i' - left <= j <= i' + right\n";
      if (x->left) clip_lo(aligned(x->align) + " - " + std::to_string(*x->left) + "LL");
      if (x->right) clip_hi(aligned(x->align) + " + " + std::to_string(*x->right) + "LL");
    } else if (const auto* x = std::get_if<ChunkedMask>(&m)) {
      o << "  // chunked, " << align_name(x->align) << ": floor(i'/chunk) == floor(j/chunk) and j <= i'\n";
      clip_lo("ag_floor_div(" + aligned(x->align) + ", " + std::to_string(x->chunk) + "LL) * " +
              std::to_string(x->chunk) + "LL");
      clip_hi(aligned(x->align));
    } else if (std::get_if<PrefixLmMask>(&m)) {
      o << "  // prefix_lm: j <= i or j < prefix\n";
      clip_hi("(i > c.prefix - 1 ? i : c.prefix - 1)");
    }
  }
  o << "}\n";
  return o.str();
}

}  // namespace attngen::source
