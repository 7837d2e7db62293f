// Canonical form and cache key: defaults filled in, keys sorted, idempotent,
// insensitive to mask order and to how a value is spelled, sensitive to every
// field that changes the kernel, and stable across builds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "codegen/spec/spec.hpp"
#include "runtime/core/version.hpp"

#ifndef ATTNGEN_SOURCE_DIR
#error "ATTNGEN_SOURCE_DIR (the project root, a string literal) must be defined"
#endif

namespace attngen {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string canon(const std::string& spec_json) { return canonical_json(parse_spec(spec_json)); }
std::string key(const std::string& spec_json, const std::string& backend = "reference",
                const std::string& isa = "scalar-f64") {
  return cache_key(parse_spec(spec_json), backend, isa);
}

std::vector<fs::path> example_files() {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(fs::path(ATTNGEN_SOURCE_DIR) / "specs" / "examples"))
    if (e.path().extension() == ".json") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

// Every object's keys, in text order, must be sorted (checked recursively).
void expect_sorted_keys(const nlohmann::ordered_json& j, const std::string& where) {
  if (j.is_object()) {
    std::vector<std::string> keys;
    for (auto it = j.begin(); it != j.end(); ++it) {
      keys.push_back(it.key());
      expect_sorted_keys(it.value(), where + "." + it.key());
    }
    EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end())) << where;
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) expect_sorted_keys(j[i], where + "[" + std::to_string(i) + "]");
  }
}

TEST(SpecCanonical, FillsEveryDefault) {
  const json j = json::parse(canon(R"({"dtype":"f16","head_dim":80,"num_heads":6})"));
  EXPECT_EQ(j.size(), 13u) << j.dump();
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["dtype"], "f16");
  EXPECT_EQ(j["head_dim"], 80);
  EXPECT_EQ(j["head_dim_v"], 80);
  EXPECT_EQ(j["num_heads"], 6);
  EXPECT_EQ(j["num_kv_heads"], 6);
  EXPECT_EQ(j["layout"], "bhsd");
  ASSERT_TRUE(j["scale"].is_number_float());
  const double scale = j["scale"].get<double>();
  const double want = 1.0 / std::sqrt(80.0);
  EXPECT_EQ(std::memcmp(&scale, &want, sizeof scale), 0) << "scale " << scale << " is not 1/sqrt(80) to the bit";
  EXPECT_EQ(j["return_lse"], false);
  EXPECT_TRUE(j["seq_len_q"].is_null());
  EXPECT_TRUE(j["seq_len_kv"].is_null());
  EXPECT_EQ(j["mask"], json::array());
  EXPECT_EQ(j["score_mod"], json::array());
}

TEST(SpecCanonical, FillsMaskDefaults) {
  const json j = json::parse(canon(
      R"({"dtype":"f32","head_dim":32,"num_heads":2,"mask":[{"type":"prefix_lm"}],"score_mod":[{"type":"alibi"}]})"));
  EXPECT_EQ(j["mask"], json::parse(R"([{"type":"prefix_lm","prefix":null}])"));
  EXPECT_EQ(j["score_mod"], json::parse(R"([{"type":"alibi"}])"));
}

TEST(SpecCanonical, ExactTextOfOneSpec) {
  EXPECT_EQ(canon(R"({"mask":[{"align":"top_left","type":"causal"}],"num_heads":4,"head_dim":64,"dtype":"f32"})"),
            R"({"dtype":"f32","head_dim":64,"head_dim_v":64,"layout":"bhsd",)"
            R"("mask":[{"align":"top_left","type":"causal"}],"num_heads":4,"num_kv_heads":4,)"
            R"("return_lse":false,"scale":0.125,"score_mod":[],"seq_len_kv":null,"seq_len_q":null,"version":1})");
}

TEST(SpecCanonical, KeysSortedAndNoWhitespace) {
  const std::string c = canon(
      R"({"score_mod":[{"cap":30,"type":"softcap"}],"mask":[{"type":"sliding_window","align":"bottom_right",)"
      R"("right":null,"left":4},{"type":"custom","format":"additive"}],"layout":"bshd","num_heads":8,)"
      R"("num_kv_heads":2,"head_dim":64,"dtype":"bf16","return_lse":true,"seq_len_q":1})");
  expect_sorted_keys(nlohmann::ordered_json::parse(c), "spec");
  EXPECT_EQ(c.find_first_of(" \n\t"), std::string::npos) << c;
  // The pretty form is the same JSON, laid out for people.
  const std::string pretty = canonical_json(parse_spec(c), /*pretty=*/true);
  EXPECT_NE(pretty.find('\n'), std::string::npos);
  EXPECT_EQ(json::parse(pretty), json::parse(c));
}

TEST(SpecCanonical, IsIdempotent) {
  std::vector<std::string> specs = {
      R"({"dtype":"f16","head_dim":80,"num_heads":6})",
      R"({"dtype":"f32","head_dim":96,"num_heads":6,"scale":0.3,"mask":[{"type":"chunked","chunk":7,)"
      R"("align":"bottom_right"},{"type":"padding"},{"type":"document"}],"score_mod":[{"type":"alibi"},)"
      R"({"type":"softcap","cap":12.5}],"return_lse":true,"seq_len_kv":4096})",
  };
  for (const fs::path& f : example_files()) specs.push_back(canonical_json(load_spec_file(f.string())));
  for (const std::string& s : specs) {
    const std::string once = canon(s);
    EXPECT_EQ(canon(once), once) << s;
    EXPECT_EQ(canonical_json(parse_spec(canonical_json(parse_spec(once), true))), once) << s;
  }
}

TEST(SpecCanonical, MaskOrderDoesNotMatter) {
  const std::string base = R"({"dtype":"f32","head_dim":64,"num_heads":4,"mask":)";
  const std::string a = base + R"([{"type":"padding"},{"type":"causal","align":"bottom_right"},)"
                               R"({"type":"sliding_window","left":8,"right":0,"align":"bottom_right"}]})";
  const std::string b = base + R"([{"type":"sliding_window","left":8,"right":0,"align":"bottom_right"},)"
                               R"({"type":"causal","align":"bottom_right"},{"type":"padding"}]})";
  EXPECT_EQ(canon(a), canon(b));
  EXPECT_EQ(key(a), key(b));
  // Score mods run in a fixed order (softcap, then alibi), whatever the list order.
  const std::string m = R"({"dtype":"f32","head_dim":64,"num_heads":4,"score_mod":)";
  EXPECT_EQ(canon(m + R"([{"type":"alibi"},{"type":"softcap","cap":30}]})"),
            canon(m + R"([{"type":"softcap","cap":30},{"type":"alibi"}]})"));
  EXPECT_EQ(json::parse(canon(m + R"([{"type":"alibi"},{"type":"softcap","cap":30}]})"))["score_mod"][0]["type"],
            "softcap");
}

TEST(SpecCanonical, SpellingOfDefaultsDoesNotMatter) {
  const std::string minimal = R"({"dtype":"f32","head_dim":64,"num_heads":4})";
  const std::vector<std::string> same = {
      R"({"version":1,"dtype":"f32","head_dim":64,"head_dim_v":64,"num_heads":4,"num_kv_heads":4,"layout":"bhsd",)"
      R"("scale":0.125,"mask":[],"score_mod":[],"return_lse":false,"seq_len_q":null,"seq_len_kv":null})",
      R"({"num_heads":4,"head_dim":64,"dtype":"f32","mask":null,"score_mod":null})",
      R"({"dtype":"f32","head_dim":64,"num_heads":4,"scale":1.25e-1})",
  };
  for (const std::string& s : same) {
    EXPECT_EQ(canon(s), canon(minimal)) << s;
    EXPECT_EQ(key(s), key(minimal)) << s;
  }
  // Integer and float spellings of one number.
  const std::string d = R"({"dtype":"f32","head_dim":64,"num_heads":4,)";
  EXPECT_EQ(canon(d + R"("scale":1})"), canon(d + R"("scale":1.0})"));
  EXPECT_EQ(canon(d + R"("score_mod":[{"type":"softcap","cap":50}]})"),
            canon(d + R"("score_mod":[{"type":"softcap","cap":50.0}]})"));
  EXPECT_EQ(canon(d + R"("mask":[{"type":"prefix_lm"}]})"), canon(d + R"("mask":[{"type":"prefix_lm","prefix":null}]})"));
}

TEST(SpecCanonical, EveryFieldThatMattersChangesTheKey) {
  const std::string d = R"({"dtype":"f32","head_dim":64,"num_heads":4)";
  const std::vector<std::string> variants = {
      d + "}",
      R"({"dtype":"f16","head_dim":64,"num_heads":4})",
      R"({"dtype":"bf16","head_dim":64,"num_heads":4})",
      R"({"dtype":"f32","head_dim":128,"num_heads":4})",
      R"({"dtype":"f32","head_dim":64,"num_heads":8})",
      d + R"(,"head_dim_v":32})",
      d + R"(,"num_kv_heads":2})",
      d + R"(,"num_kv_heads":1})",
      d + R"(,"layout":"bshd"})",
      d + R"(,"scale":0.1})",
      d + R"(,"return_lse":true})",
      d + R"(,"seq_len_q":1})",
      d + R"(,"seq_len_kv":1})",
      d + R"(,"mask":[{"type":"causal","align":"top_left"}]})",
      d + R"(,"mask":[{"type":"causal","align":"bottom_right"}]})",
      d + R"(,"mask":[{"type":"sliding_window","left":8,"right":0,"align":"top_left"}]})",
      d + R"(,"mask":[{"type":"sliding_window","left":0,"right":8,"align":"top_left"}]})",
      d + R"(,"mask":[{"type":"sliding_window","left":8,"right":null,"align":"top_left"}]})",
      d + R"(,"mask":[{"type":"sliding_window","left":9,"right":0,"align":"top_left"}]})",
      d + R"(,"mask":[{"type":"chunked","chunk":16,"align":"top_left"}]})",
      d + R"(,"mask":[{"type":"chunked","chunk":32,"align":"top_left"}]})",
      d + R"(,"mask":[{"type":"prefix_lm"}]})",
      d + R"(,"mask":[{"type":"prefix_lm","prefix":0}]})",
      d + R"(,"mask":[{"type":"prefix_lm","prefix":10}]})",
      d + R"(,"mask":[{"type":"padding"}]})",
      d + R"(,"mask":[{"type":"document"}]})",
      d + R"(,"mask":[{"type":"custom","format":"bool"}]})",
      d + R"(,"mask":[{"type":"custom","format":"additive"}]})",
      d + R"(,"mask":[{"type":"padding"},{"type":"causal","align":"top_left"}]})",
      d + R"(,"score_mod":[{"type":"alibi"}]})",
      d + R"(,"score_mod":[{"type":"softcap","cap":30}]})",
      d + R"(,"score_mod":[{"type":"softcap","cap":50}]})",
      d + R"(,"score_mod":[{"type":"softcap","cap":30},{"type":"alibi"}]})",
  };
  std::map<std::string, std::string> seen;  // key -> spec
  for (const std::string& v : variants) {
    const auto [it, fresh] = seen.emplace(key(v), v);
    EXPECT_TRUE(fresh) << v << "\nhas the same key as\n" << it->second;
  }
  std::set<std::string> forms;
  for (const std::string& v : variants) forms.insert(canon(v));
  EXPECT_EQ(forms.size(), variants.size());
}

TEST(SpecCanonical, BackendAndIsaChangeTheKey) {
  const std::string s = R"({"dtype":"f32","head_dim":64,"num_heads":4})";
  const std::set<std::string> keys = {key(s, "reference", "scalar-f64"), key(s, "cpu", "scalar-f64"),
                                      key(s, "reference", "avx2"), key(s, "cpu", "avx2"),
                                      key(s, "cpu", "avx512"), key(s, "cuda", "sm_90")};
  EXPECT_EQ(keys.size(), 6u);
  // The separator keeps backend and ISA apart: "ab"+"c" is not "a"+"bc".
  EXPECT_NE(key(s, "ab", "c"), key(s, "a", "bc"));
  EXPECT_EQ(key(s, "cpu", "avx2"), key(s, "cpu", "avx2"));
}

TEST(SpecCanonical, KeyIsSixteenHexDigits) {
  const std::string k = key(R"({"dtype":"f32","head_dim":64,"num_heads":4})");
  EXPECT_EQ(k.size(), 16u);
  EXPECT_EQ(k.find_first_not_of("0123456789abcdef"), std::string::npos) << k;
}

TEST(SpecCanonical, HashIsFnv1a64) {
  // Published FNV-1a 64-bit test vectors.
  EXPECT_EQ(stable_hash_hex(""), "cbf29ce484222325");
  EXPECT_EQ(stable_hash_hex("a"), "af63dc4c8601ec8c");
  EXPECT_EQ(stable_hash_hex("foobar"), "85944171f73967e8");
}

// Regression guard. This key names compiled kernels in every cache. If this
// test fails, every existing cache entry is invalidated: that must happen only
// on purpose, by bumping kGeneratorVersion (runtime/core/version.hpp) when the
// generated code or its calling convention changes, never as a side effect of
// an edit to the canonical form or the hash. Update the constants consciously.
TEST(SpecCanonical, KeyIsStable) {
  ASSERT_STREQ(kGeneratorVersion, "gen-2") << "generator version bumped: update the key below";
  EXPECT_EQ(key(R"({"dtype":"f32","head_dim":64,"num_heads":4,"mask":[{"type":"causal","align":"top_left"}]})",
                "reference", "scalar-f64"),
            "0cef2eab91477f34");
}

TEST(SpecCanonical, EveryExampleParses) {
  const std::vector<fs::path> files = example_files();
  ASSERT_GE(files.size(), 10u) << "specs/examples not found under " << ATTNGEN_SOURCE_DIR;
  std::map<std::string, std::string> forms;  // canonical -> file
  for (const fs::path& f : files) {
    SCOPED_TRACE(f.string());
    Spec s;
    try {
      s = load_spec_file(f.string());
    } catch (const SpecError& e) {
      ADD_FAILURE() << e.what();
      continue;
    }
    const std::string c = canonical_json(s);
    const auto [it, fresh] = forms.emplace(c, f.filename().string());
    EXPECT_TRUE(fresh) << "same canonical form as " << it->second;
  }
}

// A few examples checked field by field against what their names promise.
TEST(SpecCanonical, ExamplesMeanWhatTheySay) {
  auto load = [](const char* name) {
    return json::parse(
        canonical_json(load_spec_file((fs::path(ATTNGEN_SOURCE_DIR) / "specs" / "examples" / name).string())));
  };
  const json sw = load("sliding_window.json");
  EXPECT_EQ(sw["mask"], json::parse(R"([{"type":"sliding_window","left":32,"right":0,"align":"bottom_right"}])"));
  EXPECT_EQ(sw["num_kv_heads"], 2);
  const json bshd = load("bshd_f16.json");
  EXPECT_EQ(bshd["layout"], "bshd");
  EXPECT_EQ(bshd["scale"], 0.125);
  const json mla = load("mla_dims_lse.json");
  EXPECT_EQ(mla["head_dim"], 192);
  EXPECT_EQ(mla["head_dim_v"], 128);
  EXPECT_EQ(mla["return_lse"], true);
  const json fixed = load("fixed_lengths.json");
  EXPECT_EQ(fixed["seq_len_q"], 1);
  EXPECT_EQ(fixed["seq_len_kv"], 300);
}

}  // namespace
}  // namespace attngen
