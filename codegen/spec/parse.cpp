// JSON text -> validated Spec. Collects every problem with its JSON path rather
// than stopping at the first, so one run of `attngen check` shows them all.
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "codegen/spec/json_input.hpp"
#include "codegen/spec/spec.hpp"
#include "runtime/core/text.hpp"
#include "runtime/io/atomic_file.hpp"

namespace attngen {
namespace {

using json = nlohmann::json;

constexpr int kMaxHeadDim = 1024;
constexpr int kMaxHeads = 65536;

// Problems beyond this many are counted, not listed: a spec of 100k unknown
// fields gets a readable message.
constexpr size_t kMaxProblems = 50;

// A short rendering of a JSON value for "got ..." in messages. The parser
// bounds the value's nesting depth (kMaxSpecDepth), and so dump()'s recursion.
std::string show(const json& v) {
  std::string s = printable(v.dump(), 57);
  if (v.is_object()) s = "an object " + s;
  if (v.is_array()) s = "a list " + s;
  return s;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diag = up;
    }
  }
  return row[b.size()];
}

class Validator {
 public:
  std::vector<std::string> problems;
  size_t not_listed = 0;

  void fail(const std::string& path, const std::string& what) {
    if (problems.size() < kMaxProblems) problems.push_back(path + ": " + what);
    else ++not_listed;
  }
  // Every problem, plus a last line counting those that were not listed.
  std::vector<std::string> all_problems() {
    if (not_listed) problems.push_back("spec: " + std::to_string(not_listed) + " more problems not listed");
    return std::move(problems);
  }

  // Reports fields of `obj` that are not in `known`, suggesting the nearest name.
  void check_fields(const json& obj, const std::string& prefix, const std::vector<std::string>& known) {
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      const std::string& key = it.key();
      if (std::find(known.begin(), known.end(), key) != known.end()) continue;
      std::string best;
      size_t best_d = 3;
      for (const std::string& k : known) {
        // Names whose lengths differ by best_d or more cannot be nearer.
        if (std::max(key.size(), k.size()) - std::min(key.size(), k.size()) >= best_d) continue;
        const size_t d = edit_distance(key, k);
        if (d < best_d) best_d = d, best = k;
      }
      std::string msg = "unknown field";
      if (!best.empty()) msg += " (did you mean \"" + best + "\"?)";
      else {
        msg += "; known fields:";
        for (const std::string& k : known) msg += " " + k;
      }
      fail(join(prefix, printable(key)), msg);
    }
  }

  static std::string join(const std::string& prefix, const std::string& key) {
    return prefix.empty() ? key : prefix + "." + key;
  }

  // Integer in [lo, hi]; `what` describes the accepted range for the message.
  std::optional<int64_t> integer(const json& v, const std::string& path, int64_t lo, int64_t hi,
                                 const std::string& what) {
    bool ok = v.is_number_integer() && !(v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX));
    const int64_t x = ok ? v.get<int64_t>() : 0;
    if (!ok || x < lo || x > hi) {
      fail(path, "must be " + what + ", got " + show(v));
      return std::nullopt;
    }
    return x;
  }

  std::optional<double> positive_number(const json& v, const std::string& path) {
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() <= 0) {
      fail(path, "must be a finite number > 0, got " + show(v));
      return std::nullopt;
    }
    return v.get<double>();
  }

  std::optional<Align> align(const json& obj, const std::string& prefix) {
    const std::string path = join(prefix, "align");
    static const char* kHelp =
        "\"top_left\" (j <= i: PyTorch is_causal) or \"bottom_right\" (j <= i + Skv - Sq: "
        "FlashAttention >= 2.1, KV-cache decoding); the two differ whenever Sq != Skv";
    if (!obj.contains("align")) {
      fail(path, std::string("required: ") + kHelp);
      return std::nullopt;
    }
    const json& v = obj["align"];
    if (v == "top_left") return Align::top_left;
    if (v == "bottom_right") return Align::bottom_right;
    fail(path, std::string("must be ") + kHelp + ", got " + show(v));
    return std::nullopt;
  }

  std::optional<Mask> mask(const json& m, const std::string& p) {
    if (!m.is_object()) {
      fail(p, "must be an object with a \"type\", got " + show(m));
      return std::nullopt;
    }
    if (!m.contains("type") || !m["type"].is_string()) {
      fail(join(p, "type"),
           std::string(m.contains("type") ? "must be a string" : "required") +
               ": one of causal, sliding_window, chunked, prefix_lm, padding, document, custom" +
               (m.contains("type") ? ", got " + show(m["type"]) : ""));
      return std::nullopt;
    }
    const std::string type = m["type"].get<std::string>();
    if (type == "causal") {
      check_fields(m, p, {"type", "align"});
      if (auto a = align(m, p)) return CausalMask{*a};
      return std::nullopt;
    }
    if (type == "sliding_window") {
      check_fields(m, p, {"type", "left", "right", "align"});
      bool ok = true;
      std::optional<int64_t> side[2];
      const char* names[2] = {"left", "right"};
      for (int s = 0; s < 2; ++s) {
        const std::string path = join(p, names[s]);
        if (!m.contains(names[s])) {
          fail(path, "required: an integer >= 0, or null for unbounded");
          ok = false;
        } else if (!m[names[s]].is_null()) {
          side[s] = integer(m[names[s]], path, 0, INT64_MAX / 4, "an integer >= 0 or null");
          ok = ok && side[s].has_value();
        }
      }
      auto a = align(m, p);
      if (!ok || !a) return std::nullopt;
      return SlidingWindowMask{side[0], side[1], *a};
    }
    if (type == "chunked") {
      check_fields(m, p, {"type", "chunk", "align"});
      std::optional<int64_t> chunk;
      if (!m.contains("chunk")) fail(join(p, "chunk"), "required: an integer >= 1");
      else chunk = integer(m["chunk"], join(p, "chunk"), 1, INT64_MAX / 4, "an integer >= 1");
      auto a = align(m, p);
      if (!chunk || !a) return std::nullopt;
      return ChunkedMask{*chunk, *a};
    }
    if (type == "prefix_lm") {
      check_fields(m, p, {"type", "prefix"});
      if (!m.contains("prefix") || m["prefix"].is_null()) return PrefixLmMask{std::nullopt};
      if (auto v = integer(m["prefix"], join(p, "prefix"), 0, INT64_MAX / 4,
                           "an integer >= 0, or absent for a run-time prefix_lens tensor"))
        return PrefixLmMask{*v};
      return std::nullopt;
    }
    if (type == "padding") {
      check_fields(m, p, {"type"});
      return PaddingMask{};
    }
    if (type == "document") {
      check_fields(m, p, {"type"});
      return DocumentMask{};
    }
    if (type == "custom") {
      check_fields(m, p, {"type", "format"});
      const std::string path = join(p, "format");
      if (!m.contains("format")) {
        fail(path, "required: \"bool\" (nonzero = keep) or \"additive\" (added to the score)");
        return std::nullopt;
      }
      if (m["format"] == "bool") return CustomMask{CustomFormat::boolean};
      if (m["format"] == "additive") return CustomMask{CustomFormat::additive};
      fail(path, "must be \"bool\" or \"additive\", got " + show(m["format"]));
      return std::nullopt;
    }
    fail(join(p, "type"),
         "must be one of causal, sliding_window, chunked, prefix_lm, padding, document, custom, got " +
             show(m["type"]));
    return std::nullopt;
  }

  std::optional<ScoreMod> score_mod(const json& m, const std::string& p) {
    if (!m.is_object()) {
      fail(p, "must be an object with a \"type\", got " + show(m));
      return std::nullopt;
    }
    if (!m.contains("type") || !m["type"].is_string()) {
      fail(join(p, "type"), m.contains("type") ? "must be \"softcap\" or \"alibi\", got " + show(m["type"])
                                               : "required: \"softcap\" or \"alibi\"");
      return std::nullopt;
    }
    const std::string type = m["type"].get<std::string>();
    if (type == "softcap") {
      check_fields(m, p, {"type", "cap"});
      if (!m.contains("cap")) {
        fail(join(p, "cap"), "required: a finite number > 0");
        return std::nullopt;
      }
      if (auto c = positive_number(m["cap"], join(p, "cap"))) return SoftcapMod{*c};
      return std::nullopt;
    }
    if (type == "alibi") {
      check_fields(m, p, {"type"});
      return AlibiMod{};
    }
    fail(join(p, "type"), "must be \"softcap\" or \"alibi\", got " + show(m["type"]));
    return std::nullopt;
  }
};

const char* mask_type_name(const Mask& m) {
  static const char* names[] = {"causal",  "sliding_window", "chunked", "prefix_lm",
                                "padding", "document",       "custom"};
  return names[m.index()];
}

}  // namespace

SpecError::SpecError(std::vector<std::string> problems)
    : Error([&] {
        std::string s;
        for (const std::string& p : problems) s += (s.empty() ? "" : "\n") + p;
        return s;
      }()),
      problems_(std::move(problems)) {}

Spec parse_spec(const std::string& text) {
  Validator v;
  json root = parse_spec_json(text, v.problems);
  if (!root.is_object()) throw SpecError({"spec: must be a JSON object, got " + show(root)});
  v.check_fields(root, "",
                 {"version", "dtype", "head_dim", "head_dim_v", "num_heads", "num_kv_heads", "layout",
                  "scale", "mask", "score_mod", "return_lse", "seq_len_q", "seq_len_kv"});
  Spec s;
  if (root.contains("version")) v.integer(root["version"], "version", 1, 1, "1 (spec v1)");

  if (!root.contains("dtype")) v.fail("dtype", "required: \"f32\", \"f16\" or \"bf16\"");
  else if (!root["dtype"].is_string() || !parse_storage_dtype(root["dtype"].get<std::string>()))
    v.fail("dtype", "must be \"f32\", \"f16\" or \"bf16\", got " + show(root["dtype"]));
  else s.dtype = *parse_storage_dtype(root["dtype"].get<std::string>());

  const std::string dim_range = "an integer in [1, " + std::to_string(kMaxHeadDim) + "]";
  const std::string head_range = "an integer in [1, " + std::to_string(kMaxHeads) + "]";
  auto required_int = [&](const char* key, int64_t hi, const std::string& what) -> int {
    if (!root.contains(key)) {
      v.fail(key, "required: " + what);
      return 0;
    }
    return int(v.integer(root[key], key, 1, hi, what).value_or(0));
  };
  s.head_dim = required_int("head_dim", kMaxHeadDim, dim_range);
  s.num_heads = required_int("num_heads", kMaxHeads, head_range);
  s.head_dim_v = root.contains("head_dim_v")
                     ? int(v.integer(root["head_dim_v"], "head_dim_v", 1, kMaxHeadDim, dim_range).value_or(0))
                     : s.head_dim;
  s.num_kv_heads = root.contains("num_kv_heads")
                       ? int(v.integer(root["num_kv_heads"], "num_kv_heads", 1, kMaxHeads, head_range).value_or(0))
                       : s.num_heads;
  if (s.num_heads > 0 && s.num_kv_heads > 0 && s.num_heads % s.num_kv_heads != 0)
    v.fail("num_kv_heads", "must divide num_heads (" + std::to_string(s.num_heads) + "), got " +
                               std::to_string(s.num_kv_heads));

  if (root.contains("layout")) {
    if (root["layout"] == "bhsd") s.layout = Layout::bhsd;
    else if (root["layout"] == "bshd") s.layout = Layout::bshd;
    else v.fail("layout", "must be \"bhsd\" or \"bshd\", got " + show(root["layout"]));
  }
  if (root.contains("scale")) s.scale = v.positive_number(root["scale"], "scale").value_or(0);
  else if (s.head_dim > 0) s.scale = 1.0 / std::sqrt(double(s.head_dim));

  if (root.contains("return_lse")) {
    if (root["return_lse"].is_boolean()) s.return_lse = root["return_lse"].get<bool>();
    else v.fail("return_lse", "must be true or false, got " + show(root["return_lse"]));
  }
  for (const char* key : {"seq_len_q", "seq_len_kv"}) {
    if (!root.contains(key) || root[key].is_null()) continue;
    auto n = v.integer(root[key], key, 1, int64_t(1) << 40, "an integer >= 1, or absent for a run-time length");
    (std::string(key) == "seq_len_q" ? s.seq_len_q : s.seq_len_kv) = n;
  }

  if (root.contains("mask") && !root["mask"].is_null()) {
    const json& masks = root["mask"];
    if (!masks.is_array()) {
      v.fail("mask", "must be a list of mask objects, got " + show(masks));
    } else if (masks.size() > kMaxMasks) {
      v.fail("mask", "must hold at most " + std::to_string(kMaxMasks) + " masks, got a list of " +
                         std::to_string(masks.size()));
    } else {
      std::set<std::string> seen;
      for (size_t i = 0; i < masks.size(); ++i) {
        const std::string p = "mask[" + std::to_string(i) + "]";
        auto m = v.mask(masks[i], p);
        if (!m) continue;
        const std::string type = mask_type_name(*m);
        // These take run-time tensors, of which there is one of each.
        const bool single = std::holds_alternative<PaddingMask>(*m) || std::holds_alternative<DocumentMask>(*m) ||
                            std::holds_alternative<PrefixLmMask>(*m) || std::holds_alternative<CustomMask>(*m);
        if (single && !seen.insert(type).second) {
          v.fail(p, "a second \"" + type + "\" mask; at most one is allowed (it takes one set of run-time tensors)");
          continue;
        }
        s.masks.push_back(*m);
      }
    }
  }
  if (root.contains("score_mod") && !root["score_mod"].is_null()) {
    const json& mods = root["score_mod"];
    if (!mods.is_array()) {
      v.fail("score_mod", "must be a list of score-mod objects, got " + show(mods));
    } else if (mods.size() > kMaxScoreMods) {
      v.fail("score_mod", "must hold at most " + std::to_string(kMaxScoreMods) + " score mods, got a list of " +
                              std::to_string(mods.size()));
    } else {
      bool have[2] = {false, false};
      for (size_t i = 0; i < mods.size(); ++i) {
        const std::string p = "score_mod[" + std::to_string(i) + "]";
        auto m = v.score_mod(mods[i], p);
        if (!m) continue;
        if (have[m->index()]) {
          v.fail(p, std::string("a second \"") + (m->index() == 0 ? "softcap" : "alibi") +
                        "\"; at most one of each score mod is allowed");
          continue;
        }
        have[m->index()] = true;
        s.score_mods.push_back(*m);
      }
      // Applied in a fixed order whatever the list order: softcap, then alibi.
      std::sort(s.score_mods.begin(), s.score_mods.end(),
                [](const ScoreMod& a, const ScoreMod& b) { return a.index() < b.index(); });
    }
  }
  if (!v.problems.empty()) throw SpecError(v.all_problems());
  return s;
}

Spec load_spec_file(const std::string& path) {
  const std::string shown = printable(path, 200);
  std::vector<uint8_t> bytes;
  try {
    // One byte more than a spec may have is enough to reject it.
    bytes = read_file(path, "spec", ReadLimits{kMaxSpecBytes});
  } catch (const FileTooLarge&) {
    throw SpecError({shown + ": spec: larger than the limit of " + std::to_string(kMaxSpecBytes) + " bytes (1 MiB)"});
  }
  try {
    return parse_spec(std::string(bytes.begin(), bytes.end()));
  } catch (const SpecError& e) {
    std::vector<std::string> problems;
    for (const std::string& p : e.problems()) problems.push_back(shown + ": " + p);
    throw SpecError(std::move(problems));
  }
}

}  // namespace attngen
