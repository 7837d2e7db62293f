// Spec v1: what one attention kernel computes (docs/spec.md is the manual).
// Plain data, validated on construction from JSON, canonical and hashable.
// It knows nothing about targets, tiles or instructions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "runtime/core/dtype.hpp"

namespace attngen {

constexpr int kSpecVersion = 1;

enum class Layout : uint8_t { bhsd, bshd };
// Where the causal diagonal sits when Sq != Skv: i' = i (top_left) or i + Skv - Sq.
enum class Align : uint8_t { top_left, bottom_right };

struct CausalMask {
  Align align;
};
struct SlidingWindowMask {
  std::optional<int64_t> left, right;  // nullopt = unbounded
  Align align;
};
struct ChunkedMask {
  int64_t chunk;
  Align align;
};
struct PrefixLmMask {
  std::optional<int64_t> prefix;  // nullopt: run-time int32 prefix_lens [B]
};
struct PaddingMask {};   // run-time kv_lens [B] (required), q_lens [B] (optional)
struct DocumentMask {};  // run-time q_doc [B,Sq], kv_doc [B,Skv]
enum class CustomFormat : uint8_t { boolean, additive };
struct CustomMask {
  CustomFormat format;
};

using Mask = std::variant<CausalMask, SlidingWindowMask, ChunkedMask, PrefixLmMask, PaddingMask,
                          DocumentMask, CustomMask>;

struct SoftcapMod {
  double cap;
};
struct AlibiMod {};  // run-time f32 slopes [Hq] or [B,Hq]
using ScoreMod = std::variant<SoftcapMod, AlibiMod>;

struct Spec {
  ElemType dtype = ElemType::f32;
  int head_dim = 0;
  int head_dim_v = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  Layout layout = Layout::bhsd;
  double scale = 0;
  std::vector<Mask> masks;
  std::vector<ScoreMod> score_mods;
  bool return_lse = false;
  std::optional<int64_t> seq_len_q, seq_len_kv;

  // Queries of head h read KV head h / group_size().
  int group_size() const { return num_heads / num_kv_heads; }

  template <class M>
  const M* find_mask() const {
    for (const Mask& m : masks)
      if (const M* p = std::get_if<M>(&m)) return p;
    return nullptr;
  }
  template <class M>
  const M* find_mod() const {
    for (const ScoreMod& m : score_mods)
      if (const M* p = std::get_if<M>(&m)) return p;
    return nullptr;
  }
  bool has_padding() const { return find_mask<PaddingMask>() != nullptr; }
  bool needs_prefix_lens() const {
    const PrefixLmMask* p = find_mask<PrefixLmMask>();
    return p && !p->prefix;
  }
};

// Limits on what a spec may be, so that parsing takes time and memory linear
// in its size and a hostile spec is a SpecError, never a crash or a hang.
constexpr size_t kMaxSpecBytes = size_t(1) << 20;  // 1 MiB of JSON text
constexpr int kMaxSpecDepth = 64;                   // lists and objects nested in each other
constexpr size_t kMaxMasks = 64;                    // entries of "mask"
constexpr size_t kMaxScoreMods = 64;                // entries of "score_mod"

// Parses and validates spec JSON text. On any problem throws SpecError listing
// every problem found, each as "<json path>: <what was expected>, got <what came>".
Spec parse_spec(const std::string& json_text);
// The same from a file; problems are prefixed with the path. A file that
// cannot be read (missing, a directory) is an Error naming the path.
Spec load_spec_file(const std::string& path);

// Canonical JSON: every default filled in, keys sorted, no whitespace.
std::string canonical_json(const Spec& spec, bool pretty = false);

// Stable 64-bit hash (hex) of the canonical form together with the generator
// version, the backend and the target ISA: the cache key of a compiled kernel.
std::string cache_key(const Spec& spec, const std::string& backend, const std::string& isa);
// The key of a module that belongs to no spec (the CUDA merge of partial
// states): never one of cache_key's, whose canonical JSON is never empty.
std::string module_key(const std::string& module, const std::string& isa);
std::string stable_hash_hex(const std::string& text);

const char* align_name(Align a);
const char* layout_name(Layout l);

}  // namespace attngen

#include "runtime/core/error.hpp"

namespace attngen {

// Every problem of one spec, one line each.
class SpecError : public Error {
 public:
  explicit SpecError(std::vector<std::string> problems);
  const std::vector<std::string>& problems() const { return problems_; }
  std::unique_ptr<const Error> clone() const override { return std::make_unique<SpecError>(problems_); }
  [[noreturn]] void raise() const override { throw SpecError(problems_); }

 private:
  std::vector<std::string> problems_;
};

}  // namespace attngen
