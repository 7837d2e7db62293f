// Spec -> canonical JSON (defaults filled, keys sorted, masks in a fixed order)
// and the stable hash that names compiled kernels.
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "codegen/spec/spec.hpp"
#include "runtime/core/version.hpp"

namespace attngen {
namespace {

using json = nlohmann::json;

json opt_int(const std::optional<int64_t>& v) { return v ? json(*v) : json(nullptr); }

json mask_json(const Mask& m) {
  return std::visit(
      [](const auto& x) -> json {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, CausalMask>) return {{"type", "causal"}, {"align", align_name(x.align)}};
        if constexpr (std::is_same_v<T, SlidingWindowMask>)
          return {{"type", "sliding_window"},
                  {"left", opt_int(x.left)},
                  {"right", opt_int(x.right)},
                  {"align", align_name(x.align)}};
        if constexpr (std::is_same_v<T, ChunkedMask>)
          return {{"type", "chunked"}, {"chunk", x.chunk}, {"align", align_name(x.align)}};
        if constexpr (std::is_same_v<T, PrefixLmMask>) return {{"type", "prefix_lm"}, {"prefix", opt_int(x.prefix)}};
        if constexpr (std::is_same_v<T, PaddingMask>) return {{"type", "padding"}};
        if constexpr (std::is_same_v<T, DocumentMask>) return {{"type", "document"}};
        if constexpr (std::is_same_v<T, CustomMask>)
          return {{"type", "custom"}, {"format", x.format == CustomFormat::boolean ? "bool" : "additive"}};
      },
      m);
}

json mod_json(const ScoreMod& m) {
  if (const SoftcapMod* s = std::get_if<SoftcapMod>(&m)) return {{"type", "softcap"}, {"cap", s->cap}};
  return {{"type", "alibi"}};
}

}  // namespace

const char* align_name(Align a) { return a == Align::top_left ? "top_left" : "bottom_right"; }
const char* layout_name(Layout l) { return l == Layout::bhsd ? "bhsd" : "bshd"; }

std::string canonical_json(const Spec& s, bool pretty) {
  // Masks are AND-ed, so their order carries no meaning: sort them so that
  // equivalent specs share one canonical form and one cache key.
  std::vector<std::string> masks;
  for (const Mask& m : s.masks) masks.push_back(mask_json(m).dump());
  std::sort(masks.begin(), masks.end());
  json mask_list = json::array();
  for (const std::string& m : masks) mask_list.push_back(json::parse(m));
  json mods = json::array();
  for (const ScoreMod& m : s.score_mods) mods.push_back(mod_json(m));

  json j = {{"version", kSpecVersion},
            {"dtype", elem_name(s.dtype)},
            {"head_dim", s.head_dim},
            {"head_dim_v", s.head_dim_v},
            {"num_heads", s.num_heads},
            {"num_kv_heads", s.num_kv_heads},
            {"layout", layout_name(s.layout)},
            {"scale", s.scale},
            {"mask", mask_list},
            {"score_mod", mods},
            {"return_lse", s.return_lse},
            {"seq_len_q", opt_int(s.seq_len_q)},
            {"seq_len_kv", opt_int(s.seq_len_kv)}};
  return pretty ? j.dump(2) : j.dump();
}

// FNV-1a, 64 bit: stable across platforms, runs and compilers.
std::string stable_hash_hex(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string cache_key(const Spec& spec, const std::string& backend, const std::string& isa) {
  return stable_hash_hex(std::string(kGeneratorVersion) + "|" + backend + "|" + isa + "|" + canonical_json(spec));
}

std::string module_key(const std::string& module, const std::string& isa) {
  return stable_hash_hex(std::string(kGeneratorVersion) + "|" + module + "|" + isa + "|");
}

}  // namespace attngen
