// Renders templates/llvm/attention_cpu.cpp for one spec and target: the
// launch argument's header, a prelude of compile-time constants and the
// functions that carry the spec's index masks and softcap, then the template
// and its decode path (templates/llvm/attention_decode.cpp).
#include "codegen/llvm/render.hpp"

#include <algorithm>
#include <cctype>
#include <sstream>

#include "attngen_llvm_templates.hpp"
#include "codegen/source/spec_source.hpp"
#include "runtime/core/error.hpp"
#include "runtime/core/text.hpp"

namespace attngen::llvmgen {
namespace {

int round_up(int x, int m) { return (x + m - 1) / m * m; }

// softcap(s) = cap * tanh(s / cap) on a vector of scores. tanh is an odd
// Taylor polynomial below 0.3 (no cancellation for small arguments, so the
// error does not grow with the cap) and (1 - e) / (1 + e), e = exp(-2|x|),
// above. Caps whose reciprocal is not a normal f32 go through libm's double tanh.
std::string render_softcap(const Spec& s) {
  std::ostringstream o;
  const SoftcapMod* m = s.find_mod<SoftcapMod>();
  if (m && (m->cap > 1e30 || m->cap < 1e-30)) {
    o << "AG_INLINE agv ag_softcap(agv s) {\n"
      << "  for (int x = 0; x < AG_LANES; ++x)\n"
      << "    s[x] = float(" << source::double_literal(m->cap) << " * __builtin_tanh(double(s[x]) / "
      << source::double_literal(m->cap) << "));\n"
      << "  return s;\n}\n";
    return o.str();
  }
  if (!m) return "AG_INLINE agv ag_softcap(agv s) { return s; }\n";
  o << "AG_INLINE agv ag_tanh(agv x) {\n"
    << "  const agv ax = __builtin_elementwise_abs(x), x2 = x * x;\n"
    << "  agv t = ag_splat(-1382.0f / 155925.0f);\n"
    << "  t = t * x2 + 62.0f / 2835.0f;\n"
    << "  t = t * x2 - 17.0f / 315.0f;\n"
    << "  t = t * x2 + 2.0f / 15.0f;\n"
    << "  t = t * x2 - 1.0f / 3.0f;\n"
    << "  const agv small = x + x * x2 * t;\n"
    << "  const agv e = ag_exp(-2.0f * ax);\n"
    << "  const agv big = (1.0f - e) / (1.0f + e);\n"
    << "  const agv r = ag_select(ax < 0.3f, small, ag_select(x < 0.0f, -big, big));\n"
    << "  return ag_select(x != x, x, r);  // NaN stays NaN\n}\n"
    << "AG_INLINE agv ag_softcap(agv s) { return " << source::float_literal(float(m->cap)) << " * ag_tanh(s * "
    << source::float_literal(float(1.0 / m->cap)) << "); }\n";
  return o.str();
}

std::string prefix_for(const Spec& s) {
  return std::string("attngen_") + elem_name(s.dtype) + "_d" + std::to_string(s.head_dim) + "_dv" +
         std::to_string(s.head_dim_v) + "_g" + std::to_string(s.group_size()) + "_" +
         stable_hash_hex(canonical_json(s)).substr(0, 8) + "_";
}

}  // namespace

CpuTiles tiles_for(const TargetSpec& target) {
  CpuTiles t;
  t.lanes = f32_lanes(target);
  const bool many_registers = t.lanes == 16 || target.triple.rfind("aarch64", 0) == 0;  // 32 vector registers
  // Accumulators of a register tile: nr x (block_m / lanes) vectors, plus
  // block_m / lanes loaded and one broadcast, within the register file.
  t.block_m = t.lanes == 4 && many_registers ? 16 : 2 * t.lanes;
  t.nr = many_registers ? (t.lanes == 16 ? 8 : 6) : 6;
  t.block_n = round_up(64, t.nr);
  return t;
}

RenderedCpuKernel render_cpu_attention(const Spec& s, const TargetSpec& target, const std::string& symbol_prefix) {
  if (!symbol_prefix.empty()) {
    const bool ok = symbol_prefix.size() <= 64 && !std::isdigit(static_cast<unsigned char>(symbol_prefix[0])) &&
                    std::all_of(symbol_prefix.begin(), symbol_prefix.end(), [](char c) {
                      return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
                    });
    if (!ok)
      throw Error("--prefix: expected a C identifier of at most 64 letters, digits and '_' (not starting with a "
                  "digit), got '" + printable(symbol_prefix.substr(0, 80)) + "'");
  }
  RenderedCpuKernel r;
  r.tiles = tiles_for(target);
  r.symbol_prefix = symbol_prefix.empty() ? prefix_for(s) : symbol_prefix;
  const CpuTiles& t = r.tiles;
  std::ostringstream d;
  d << t.lanes << " f32 lanes, " << t.block_m << " query rows x " << t.block_n << " keys per block, register tile "
    << t.nr << "x" << t.block_m / t.lanes << " vectors, " << target.name();
  r.description = d.str();

  std::ostringstream o;
  o << "// attngen CPU kernel " << r.symbol_prefix << " for " << target.name() << "\n"
    << "// spec: " << canonical_json(s) << "\n"
    << "// " << r.description << "\n\n"
    << kAttentionParamsH << "\n"
    << "// ---- rendered from the spec\n"
    << source::render_spec_constants(s)
    << "#define AG_FN(name) " << r.symbol_prefix << "##name\n"
    << "#define AG_D_PITCH " << round_up(s.head_dim, 16) << "\n"
    << "#define AG_DV_PAD " << round_up(s.head_dim_v, t.nr) << "\n"
    << "#define AG_LANES " << t.lanes << "\n"
    << "#define AG_BLOCK_M " << t.block_m << "\n"
    << "#define AG_BLOCK_N " << t.block_n << "\n"
    << "#define AG_NR " << t.nr << "\n"
    << "#define AG_INLINE static inline __attribute__((always_inline))\n"
    << "typedef float agv __attribute__((ext_vector_type(AG_LANES)));\n\n"
    << "// ---- templates/llvm/simd.h\n"
    << kSimdH << "\n"
    << "// ---- rendered from the spec: index masks, score mods\n"
    << source::render_row_masks(s, "AG_INLINE") << render_softcap(s) << "\n"
    << "// ---- templates/llvm/attention_cpu.cpp\n"
    << kAttentionCpu << "\n"
    << "// ---- templates/llvm/attention_decode.cpp\n"
    << kAttentionDecode;
  r.source = o.str();
  return r;
}

std::string render_aot_header(const Spec& s, const TargetSpec& target, const RenderedCpuKernel& k) {
  std::string guard = "ATTNGEN_" + k.symbol_prefix + "H";
  for (char& c : guard) c = char(std::toupper(static_cast<unsigned char>(c)));
  const std::string& p = k.symbol_prefix;
  std::string P = p;  // macros: the prefix in capitals
  for (char& c : P) c = char(std::toupper(static_cast<unsigned char>(c)));
  std::ostringstream o;
  o << "/* Generated by `attngen compile --backend llvm`: an attention kernel compiled ahead of time.\n"
    << " * Target: " << target.name() << " (" << k.description << ")\n"
    << " * Spec:   " << canonical_json(s) << "\n"
    << " * Link the object with libm (-lm); it needs nothing else but libc. Guide: docs/aot.md. */\n"
    << "#ifndef " << guard << "\n#define " << guard << "\n\n"
    << kAttentionParamsH << "\n"
    << "/* The spec's fixed parameters, for a caller that fills AttnParams (strides in the layout's order). */\n"
    << "#define " << P << "DTYPE \"" << elem_name(s.dtype) << "\"\n"
    << "#define " << P << "ELEM_BYTES " << elem_size(s.dtype) << "\n"
    << "#define " << P << "LAYOUT_BSHD " << (s.layout == Layout::bshd) << " /* 0: bhsd */\n"
    << "#define " << P << "NUM_HEADS " << s.num_heads << "\n"
    << "#define " << P << "NUM_KV_HEADS " << s.num_kv_heads << "\n"
    << "#define " << P << "HEAD_DIM " << s.head_dim << "\n"
    << "#define " << P << "HEAD_DIM_V " << s.head_dim_v << "\n"
    << "#define " << P << "RETURN_LSE " << s.return_lse << "\n\n"
    << "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
    << "/* Work items of one call: batch x KV heads x tiles of " << k.tiles.block_m
    << " rows, a row being one query of one head of the KV head's group. */\n"
    << "ag_i64 " << p << "items(const struct AttnParams* p);\n"
    << "/* Bytes of scratch one running item needs; give each thread its own (64-byte aligned is best). */\n"
    << "ag_i64 " << p << "scratch_bytes(void);\n"
    << "/* Runs work item `item` in [0, items(p)); items are independent: run them on any threads. */\n"
    << "void " << p << "run_item(const struct AttnParams* p, ag_i64 item, void* scratch);\n"
    << "/* Runs every item on the calling thread. */\n"
    << "void " << p << "run(const struct AttnParams* p, void* scratch);\n\n"
    << "#ifdef __cplusplus\n}\n#endif\n#endif\n";
  return o.str();
}

}  // namespace attngen::llvmgen
