// Spec validation: every malformed spec is rejected with a message of the form
// "<json path>: <expected>, got <actual>", and a spec with several problems
// reports all of them at once.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "codegen/spec/spec.hpp"

namespace attngen {
namespace {

struct BadSpec {
  const char* json;
  const char* prefix;          // some problem must start with this (path + key phrase)
  const char* also = nullptr;  // ... and that same problem must contain this
  size_t problems = 1;         // how many problems the spec has in all
};

// A valid base spec "dtype f32, D 64, Hq 4", spelled out in every entry so each
// row reads on its own.
#define BASE R"("dtype":"f32","head_dim":64,"num_heads":4)"

const BadSpec kBad[] = {
    // --- Not a JSON object at all.
    {"{\"dtype\":\"f32\",\n \"head_dim\": 64,\n \"num_heads\": }", "spec: invalid JSON at line 3, column 15: ",
     "syntax error"},
    {R"({"dtype":"f32","head_dim":64)", "spec: invalid JSON at line 1, column 29: ", "end of input"},
    {R"({"dtype":"f32",})", "spec: invalid JSON at line 1, column 16: "},
    {"", "spec: invalid JSON at line 1, column 1: "},
    {R"({)" BASE R"(,"scale":1e400})", "spec: invalid JSON: number overflow", "1e400"},
    {R"([1,2])", "spec: must be a JSON object, got a list [1,2]"},
    {R"("f32")", R"(spec: must be a JSON object, got "f32")"},
    // --- Required fields.
    {R"({})", R"(dtype: required: "f32", "f16" or "bf16")", nullptr, 3},
    {R"({"head_dim":64,"num_heads":4})", R"(dtype: required: "f32", "f16" or "bf16")"},
    {R"({"dtype":"f32","num_heads":4})", "head_dim: required: an integer in [1, 1024]"},
    {R"({"dtype":"f32","head_dim":64})", "num_heads: required: an integer in [1, 65536]"},
    // --- dtype.
    {R"({"dtype":"f64","head_dim":64,"num_heads":4})", R"(dtype: must be "f32", "f16" or "bf16", got "f64")"},
    {R"({"dtype":"F32","head_dim":64,"num_heads":4})", R"(dtype: must be "f32", "f16" or "bf16", got "F32")"},
    {R"({"dtype":32,"head_dim":64,"num_heads":4})", R"(dtype: must be "f32", "f16" or "bf16", got 32)"},
    // --- head_dim, head_dim_v, num_heads, num_kv_heads.
    {R"({"dtype":"f32","head_dim":"64","num_heads":4})", R"(head_dim: must be an integer in [1, 1024], got "64")"},
    {R"({"dtype":"f32","head_dim":0,"num_heads":4})", "head_dim: must be an integer in [1, 1024], got 0"},
    {R"({"dtype":"f32","head_dim":-8,"num_heads":4})", "head_dim: must be an integer in [1, 1024], got -8"},
    {R"({"dtype":"f32","head_dim":4096,"num_heads":4})", "head_dim: must be an integer in [1, 1024], got 4096"},
    {R"({"dtype":"f32","head_dim":128.0,"num_heads":4})", "head_dim: must be an integer in [1, 1024], got 128.0"},
    {R"({"dtype":"f32","head_dim":true,"num_heads":4})", "head_dim: must be an integer in [1, 1024], got true"},
    {R"({)" BASE R"(,"head_dim_v":0})", "head_dim_v: must be an integer in [1, 1024], got 0"},
    {R"({)" BASE R"(,"head_dim_v":64.5})", "head_dim_v: must be an integer in [1, 1024], got 64.5"},
    {R"({"dtype":"f32","head_dim":64,"num_heads":0})", "num_heads: must be an integer in [1, 65536], got 0"},
    {R"({"dtype":"f32","head_dim":64,"num_heads":70000})", "num_heads: must be an integer in [1, 65536], got 70000"},
    {R"({"dtype":"f32","head_dim":64,"num_heads":null})", "num_heads: must be an integer in [1, 65536], got null"},
    {R"({)" BASE R"(,"num_kv_heads":3})", "num_kv_heads: must divide num_heads (4), got 3"},
    {R"({)" BASE R"(,"num_kv_heads":8})", "num_kv_heads: must divide num_heads (4), got 8"},
    {R"({)" BASE R"(,"num_kv_heads":0})", "num_kv_heads: must be an integer in [1, 65536], got 0"},
    {R"({)" BASE R"(,"num_kv_heads":18446744073709551615})", "num_kv_heads: must be an integer in [1, 65536], got "},
    // --- layout, scale, return_lse, seq lens, version.
    {R"({)" BASE R"(,"layout":"bsdh"})", R"(layout: must be "bhsd" or "bshd", got "bsdh")"},
    {R"({)" BASE R"(,"layout":1})", R"(layout: must be "bhsd" or "bshd", got 1)"},
    {R"({)" BASE R"(,"scale":0})", "scale: must be a finite number > 0, got 0"},
    {R"({)" BASE R"(,"scale":-0.125})", "scale: must be a finite number > 0, got -0.125"},
    {R"({)" BASE R"(,"scale":"0.125"})", R"(scale: must be a finite number > 0, got "0.125")"},
    {R"({)" BASE R"(,"return_lse":1})", "return_lse: must be true or false, got 1"},
    {R"({)" BASE R"(,"return_lse":"true"})", R"(return_lse: must be true or false, got "true")"},
    {R"({)" BASE R"(,"seq_len_q":0})", "seq_len_q: must be an integer >= 1, or absent for a run-time length, got 0"},
    {R"({)" BASE R"(,"seq_len_kv":-1})", "seq_len_kv: must be an integer >= 1, or absent for a run-time length, got -1"},
    {R"({)" BASE R"(,"seq_len_kv":2.5})", "seq_len_kv: must be an integer >= 1", "got 2.5"},
    {R"({"version":2,)" BASE R"(})", "version: must be 1 (spec v1), got 2"},
    {R"({"version":"1",)" BASE R"(})", R"(version: must be 1 (spec v1), got "1")"},
    // --- Unknown and repeated fields.
    {R"({"dtype":"f32","head_dims":64,"num_heads":4})", R"(head_dims: unknown field (did you mean "head_dim"?))",
     nullptr, 2},
    {R"({)" BASE R"(,"num_kv_head":2})", R"(num_kv_head: unknown field (did you mean "num_kv_heads"?))"},
    {R"({)" BASE R"(,"masks":[]})", R"(masks: unknown field (did you mean "mask"?))"},
    {R"({)" BASE R"(,"zzzzzz":1})", "zzzzzz: unknown field; known fields: version dtype head_dim", "seq_len_kv"},
    {R"({)" BASE R"(,"dtype":"f16"})", "dtype: must appear once, got a repeated field"},
    // --- mask: shape of the list and its items.
    {R"({)" BASE R"(,"mask":{"type":"causal","align":"top_left"}})",
     "mask: must be a list of mask objects, got an object"},
    {R"({)" BASE R"(,"mask":"causal"})", R"(mask: must be a list of mask objects, got "causal")"},
    {R"({)" BASE R"(,"mask":["causal"]})", R"(mask[0]: must be an object with a "type", got "causal")"},
    {R"({)" BASE R"(,"mask":[{"align":"top_left"}]})",
     "mask[0].type: required: one of causal, sliding_window, chunked, prefix_lm, padding, document, custom"},
    {R"({)" BASE R"(,"mask":[{"type":3}]})", "mask[0].type: must be a string: one of causal", "got 3"},
    {R"({)" BASE R"(,"mask":[{"type":"diag"}]})",
     R"(mask[0].type: must be one of causal, sliding_window, chunked, prefix_lm, padding, document, custom, got "diag")"},
    // --- causal.
    {R"({)" BASE R"(,"mask":[{"type":"causal"}]})", "mask[0].align: required: \"top_left\"", "\"bottom_right\""},
    {R"({)" BASE R"(,"mask":[{"type":"causal","align":"topleft"}]})",
     R"(mask[0].align: must be "top_left" (j <= i: PyTorch is_causal) or "bottom_right")", R"(, got "topleft")"},
    {R"({)" BASE R"(,"mask":[{"type":"padding"},{"type":"causal","align":null}]})", "mask[1].align: must be",
     "got null"},
    {R"({)" BASE R"(,"mask":[{"type":"causal","align":"top_left","alig":"x"}]})",
     R"(mask[0].alig: unknown field (did you mean "align"?))"},
    // --- sliding_window.
    {R"({)" BASE R"(,"mask":[{"type":"sliding_window","right":0,"align":"top_left"}]})",
     "mask[0].left: required: an integer >= 0, or null for unbounded"},
    {R"({)" BASE R"(,"mask":[{"type":"sliding_window","left":8,"align":"top_left"}]})",
     "mask[0].right: required: an integer >= 0, or null for unbounded"},
    {R"({)" BASE
     R"(,"mask":[{"type":"causal","align":"top_left"},{"type":"sliding_window","left":-3,"right":0,"align":"top_left"}]})",
     "mask[1].left: must be an integer >= 0 or null, got -3"},
    {R"({)" BASE R"(,"mask":[{"type":"sliding_window","left":2.5,"right":0,"align":"top_left"}]})",
     "mask[0].left: must be an integer >= 0 or null, got 2.5"},
    {R"({)" BASE R"(,"mask":[{"type":"sliding_window","left":8,"right":0}]})", "mask[0].align: required"},
    {R"({)" BASE R"(,"mask":[{"type":"sliding_window","left":8,"right":0,"window":4,"align":"top_left"}]})",
     "mask[0].window: unknown field; known fields: type left right align"},
    {R"({)" BASE R"(,"mask":[{"type":"sliding_window","left":1,"right":0,"left":4,"align":"top_left"}]})",
     "mask[0].left: must appear once, got a repeated field"},
    // --- chunked.
    {R"({)" BASE R"(,"mask":[{"type":"chunked","chunk":0,"align":"top_left"}]})",
     "mask[0].chunk: must be an integer >= 1, got 0"},
    {R"({)" BASE R"(,"mask":[{"type":"chunked","align":"top_left"}]})", "mask[0].chunk: required: an integer >= 1"},
    // --- prefix_lm.
    {R"({)" BASE R"(,"mask":[{"type":"prefix_lm","prefix":-1}]})",
     "mask[0].prefix: must be an integer >= 0, or absent for a run-time prefix_lens tensor, got -1"},
    {R"({)" BASE R"(,"mask":[{"type":"prefix_lm","prefix":"10"}]})", "mask[0].prefix: must be an integer >= 0",
     R"(got "10")"},
    // --- custom.
    {R"({)" BASE R"(,"mask":[{"type":"custom"}]})", R"(mask[0].format: required: "bool" (nonzero = keep) or "additive")"},
    {R"({)" BASE R"(,"mask":[{"type":"custom","format":"boolean"}]})",
     R"(mask[0].format: must be "bool" or "additive", got "boolean")"},
    {R"({)" BASE R"(,"mask":[{"type":"custom","format":true}]})",
     R"(mask[0].format: must be "bool" or "additive", got true)"},
    // --- At most one of each run-time-tensor mask.
    {R"({)" BASE R"(,"mask":[{"type":"padding"},{"type":"padding"}]})",
     R"(mask[1]: a second "padding" mask; at most one is allowed)"},
    {R"({)" BASE R"(,"mask":[{"type":"document"},{"type":"causal","align":"top_left"},{"type":"document"}]})",
     R"(mask[2]: a second "document" mask; at most one is allowed)"},
    {R"({)" BASE R"(,"mask":[{"type":"custom","format":"bool"},{"type":"custom","format":"additive"}]})",
     R"(mask[1]: a second "custom" mask; at most one is allowed)"},
    {R"({)" BASE R"(,"mask":[{"type":"prefix_lm","prefix":4},{"type":"prefix_lm"}]})",
     R"(mask[1]: a second "prefix_lm" mask; at most one is allowed)"},
    // --- score_mod.
    {R"({)" BASE R"(,"score_mod":{"type":"alibi"}})", "score_mod: must be a list of score-mod objects, got an object"},
    {R"({)" BASE R"(,"score_mod":["alibi"]})", R"(score_mod[0]: must be an object with a "type", got "alibi")"},
    {R"({)" BASE R"(,"score_mod":[{"cap":30}]})", R"(score_mod[0].type: required: "softcap" or "alibi")"},
    {R"({)" BASE R"(,"score_mod":[{"type":3}]})", R"(score_mod[0].type: must be "softcap" or "alibi", got 3)"},
    {R"({)" BASE R"(,"score_mod":[{"type":"tanh"}]})", R"(score_mod[0].type: must be "softcap" or "alibi", got "tanh")"},
    {R"({)" BASE R"(,"score_mod":[{"type":"softcap"}]})", "score_mod[0].cap: required: a finite number > 0"},
    {R"({)" BASE R"(,"score_mod":[{"type":"softcap","cap":0}]})", "score_mod[0].cap: must be a finite number > 0, got 0"},
    {R"({)" BASE R"(,"score_mod":[{"type":"alibi"},{"type":"softcap","cap":-30}]})",
     "score_mod[1].cap: must be a finite number > 0, got -30"},
    {R"({)" BASE R"(,"score_mod":[{"type":"softcap","cap":"50"}]})",
     R"(score_mod[0].cap: must be a finite number > 0, got "50")"},
    {R"({)" BASE R"(,"score_mod":[{"type":"softcap","cap":50,"capp":5}]})",
     R"(score_mod[0].capp: unknown field (did you mean "cap"?))"},
    {R"({)" BASE R"(,"score_mod":[{"type":"alibi","slopes":[1]}]})", "score_mod[0].slopes: unknown field"},
    {R"({)" BASE R"(,"score_mod":[{"type":"softcap","cap":50},{"type":"softcap","cap":30}]})",
     R"(score_mod[1]: a second "softcap"; at most one of each score mod is allowed)"},
    {R"({)" BASE R"(,"score_mod":[{"type":"alibi"},{"type":"softcap","cap":30},{"type":"alibi"}]})",
     R"(score_mod[2]: a second "alibi"; at most one of each score mod is allowed)"},
};

#undef BASE

void PrintTo(const BadSpec& c, std::ostream* os) { *os << c.json; }

std::vector<std::string> problems_of(const std::string& json) {
  try {
    parse_spec(json);
  } catch (const SpecError& e) {
    return e.problems();
  }
  return {};
}

std::string listing(const std::vector<std::string>& problems) {
  std::string s;
  for (const std::string& p : problems) s += "\n  " + p;
  return s;
}

// "<json path>: ...": the root is called "spec"; otherwise field names, list
// indices and dots, e.g. "mask[1].left".
bool starts_with_json_path(const std::string& message) {
  static const std::regex path(R"(^(spec|[A-Za-z_0-9]+(\[[0-9]+\])?(\.[A-Za-z_0-9]+)?): \S)");
  return std::regex_search(message, path);
}

class SpecErrorTable : public ::testing::TestWithParam<BadSpec> {};

TEST_P(SpecErrorTable, IsRejectedWithItsMessage) {
  const BadSpec& c = GetParam();
  const std::vector<std::string> problems = problems_of(c.json);
  ASSERT_FALSE(problems.empty()) << "accepted: " << c.json;
  bool found = false;
  for (const std::string& p : problems)
    found = found || (p.rfind(c.prefix, 0) == 0 && (!c.also || p.find(c.also) != std::string::npos));
  EXPECT_TRUE(found) << "spec: " << c.json << "\nwanted a problem starting with: " << c.prefix
                     << (c.also ? std::string("\n  and containing: ") + c.also : "") << "\ngot:" << listing(problems);
  EXPECT_EQ(problems.size(), c.problems) << c.json << "\ngot:" << listing(problems);
  for (const std::string& p : problems) EXPECT_TRUE(starts_with_json_path(p)) << p;
}

INSTANTIATE_TEST_SUITE_P(Malformed, SpecErrorTable, ::testing::ValuesIn(kBad));

TEST(SpecErrors, TableIsLarge) { EXPECT_GE(std::size(kBad), 45u); }

// The rows above differ from this spec only in what they break.
TEST(SpecErrors, BaseSpecIsValid) {
  EXPECT_NO_THROW(parse_spec(R"({"dtype":"f32","head_dim":64,"num_heads":4})"));
  EXPECT_NO_THROW(parse_spec(
      R"({"dtype":"f32","head_dim":64,"num_heads":4,"mask":[{"type":"causal","align":"top_left"},)"
      R"({"type":"sliding_window","left":3,"right":0,"align":"top_left"}]})"));
}

TEST(SpecErrors, NegativeWindowMessageIsExact) {
  const std::vector<std::string> problems = problems_of(
      R"({"dtype":"f32","head_dim":64,"num_heads":4,"mask":[{"type":"causal","align":"top_left"},)"
      R"({"type":"sliding_window","left":-3,"right":0,"align":"top_left"}]})");
  ASSERT_EQ(problems.size(), 1u) << listing(problems);
  EXPECT_EQ(problems[0], "mask[1].left: must be an integer >= 0 or null, got -3");
}

TEST(SpecErrors, CausalAlignMessageNamesBothConventions) {
  for (const char* json : {R"({"dtype":"f32","head_dim":64,"num_heads":4,"mask":[{"type":"causal"}]})",
                           R"({"dtype":"f32","head_dim":64,"num_heads":4,"mask":[{"type":"causal","align":"x"}]})"}) {
    const std::vector<std::string> problems = problems_of(json);
    ASSERT_EQ(problems.size(), 1u) << listing(problems);
    EXPECT_NE(problems[0].find("\"top_left\""), std::string::npos) << problems[0];
    EXPECT_NE(problems[0].find("\"bottom_right\""), std::string::npos) << problems[0];
    EXPECT_NE(problems[0].find("is_causal"), std::string::npos) << problems[0];
    EXPECT_NE(problems[0].find("FlashAttention"), std::string::npos) << problems[0];
  }
}

TEST(SpecErrors, SeveralProblemsAreAllReported) {
  const std::string json =
      R"({"dtype":"f64","head_dim":0,"num_heads":4,"num_kv_heads":3,"layout":"x","colour":1,)"
      R"("mask":[{"type":"causal"},{"type":"sliding_window","left":-1,"right":0,"align":"top_left"}],)"
      R"("score_mod":[{"type":"softcap","cap":0}]})";
  try {
    parse_spec(json);
    FAIL() << "accepted";
  } catch (const SpecError& e) {
    const std::vector<std::string>& p = e.problems();
    EXPECT_GE(p.size(), 3u);
    const std::vector<std::string> want = {"dtype: ",         "head_dim: ",    "num_kv_heads: ",
                                           "layout: ",        "colour: ",      "mask[0].align: ",
                                           "mask[1].left: ", "score_mod[0].cap: "};
    EXPECT_EQ(p.size(), want.size()) << listing(p);
    for (const std::string& w : want) {
      bool found = false;
      for (const std::string& m : p) found = found || m.rfind(w, 0) == 0;
      EXPECT_TRUE(found) << "no problem at " << w << listing(p);
    }
    for (const std::string& m : p) EXPECT_TRUE(starts_with_json_path(m)) << m;
    // what() lists them too, one a line.
    const std::string what = e.what();
    for (const std::string& m : p) EXPECT_NE(what.find(m), std::string::npos);
    EXPECT_EQ(size_t(std::count(what.begin(), what.end(), '\n')), p.size() - 1);
  }
}

TEST(SpecErrors, SpecErrorIsAnError) {
  EXPECT_THROW(parse_spec("{"), Error);
  EXPECT_THROW(parse_spec("{"), SpecError);
}

TEST(SpecErrors, LoadSpecFileNamesTheFile) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("attngen_bad_spec_" + std::to_string(::getpid()) + ".json");
  {
    std::ofstream out(path);
    out << R"({"dtype":"f32","head_dim":64,"num_heads":4,"mask":[{"type":"causal"}]})";
  }
  try {
    load_spec_file(path.string());
    ADD_FAILURE() << "accepted";
  } catch (const SpecError& e) {
    ASSERT_EQ(e.problems().size(), 1u);
    EXPECT_EQ(e.problems()[0].rfind(path.string() + ": mask[0].align: required", 0), 0u) << e.problems()[0];
  }
  std::filesystem::remove(path);
  EXPECT_THROW(load_spec_file(path.string()), Error);  // now missing
}

// --- Hostile input: limits on size, depth and counts, and what messages echo.

std::string nested(const std::string& open, const std::string& close, int depth, const std::string& inner = "") {
  std::string s;
  for (int i = 0; i < depth; ++i) s += open;
  s += inner;
  for (int i = 0; i < depth; ++i) s += close;
  return s;
}

// The one problem of a spec that must be rejected, or "<accepted>".
std::string only_problem(const std::string& json) {
  const std::vector<std::string> p = problems_of(json);
  if (p.empty()) return "<accepted>";
  return p.size() == 1 ? p[0] : "several problems:" + listing(p);
}

TEST(SpecLimits, DeepNestingIsASpecErrorNotACrash) {
  // 4 KB and 60 KB of brackets: once a stack overflow in the error path, and
  // 1.7 GB of JSON paths.
  for (const std::string& json :
       {nested("[", "]", 2000), nested("[", "]", 30000), nested("{\"a\":", "}", 2000, "1"),
        R"({"dtype":"f32","head_dim":64,"num_heads":4,"mask":)" + nested("[", "]", 2000) + "}"}) {
    const std::string p = only_problem(json);
    EXPECT_EQ(p.rfind("spec: lists and objects nested more than 64 levels deep (at ", 0), 0u) << p;
    EXPECT_NE(p.find("at most 64 levels are allowed"), std::string::npos) << p;
    EXPECT_LT(p.size(), 200u) << p;
  }
  EXPECT_NE(only_problem(nested("{\"a\":", "}", 2000, "1")).find("(at a.a.a.a"), std::string::npos);
  // 64 levels are within the limit (and then an ordinary problem).
  EXPECT_EQ(only_problem(nested("[", "]", 64)).rfind("spec: must be a JSON object, got a list [[[[", 0), 0u);
  const std::string p = only_problem(R"({"dtype":"f32","head_dim":64,"num_heads":4,"mask":[)" + nested("[", "]", 62) + "]}");
  EXPECT_EQ(p.rfind("mask[0]: must be an object with a \"type\", got a list [[[[[[[[", 0), 0u) << p;
  EXPECT_EQ(p.substr(p.size() - 4), "[...") << p;
}

TEST(SpecLimits, LargeListOfMasksIsRejectedQuickly) {
  std::string json = R"({"dtype":"f32","head_dim":64,"num_heads":4,"mask":[{})";
  for (int i = 1; i < 300000; ++i) json += ",{}";
  json += "]}";
  ASSERT_LT(json.size(), kMaxSpecBytes);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(only_problem(json), "mask: must hold at most 64 masks, got a list of 300000");
  // Linear: milliseconds (parsing once rescanned the whole list after each element).
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

TEST(SpecLimits, AtMost64MasksAndScoreMods) {
  auto masks = [](int n) {
    std::string json = R"({"dtype":"f32","head_dim":64,"num_heads":4,"mask":[)";
    for (int i = 0; i < n; ++i) json += std::string(i ? "," : "") + R"({"type":"causal","align":"top_left"})";
    return json + "]}";
  };
  EXPECT_EQ(only_problem(masks(64)), "<accepted>");
  EXPECT_EQ(only_problem(masks(65)), "mask: must hold at most 64 masks, got a list of 65");
  std::string mods = R"({"dtype":"f32","head_dim":64,"num_heads":4,"score_mod":[)";
  for (int i = 0; i < 65; ++i) mods += std::string(i ? "," : "") + R"({"type":"alibi"})";
  EXPECT_EQ(only_problem(mods + "]}"), "score_mod: must hold at most 64 score mods, got a list of 65");
}

TEST(SpecLimits, SpecOverOneMebibyteIsRejected) {
  const std::string base = R"({"dtype":"f32","head_dim":64,"num_heads":4})";
  EXPECT_EQ(only_problem(base + std::string(kMaxSpecBytes - base.size(), ' ')), "<accepted>");
  EXPECT_EQ(only_problem(base + std::string(kMaxSpecBytes - base.size() + 1, ' ')),
            "spec: 1048577 bytes, more than the limit of 1048576 bytes (1 MiB)");
  // From a file: rejected after reading one byte more than the limit, not the whole file.
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("attngen_big_spec_" + std::to_string(::getpid()) + ".json");
  std::ofstream(path) << base << std::string(3 * kMaxSpecBytes, ' ');
  try {
    load_spec_file(path.string());
    ADD_FAILURE() << "accepted";
  } catch (const SpecError& e) {
    EXPECT_EQ(std::string(e.what()), path.string() + ": spec: larger than the limit of 1048576 bytes (1 MiB)");
  }
  std::filesystem::remove(path);
}

// From a pipe (no size to go by): read in growing steps, accepted up to the
// limit, refused one byte past it.
TEST(SpecLimits, SpecFromAPipeIsReadWholeAndLimited) {
  ::signal(SIGPIPE, SIG_IGN);  // the reader may stop before the writer is done
  const std::string base = R"({"dtype":"f32","head_dim":64,"num_heads":4})";
  for (const size_t size : {size_t(300000), size_t(kMaxSpecBytes), size_t(kMaxSpecBytes + 100)}) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    std::thread writer([&] {
      const std::string text = base + std::string(size - base.size(), ' ');
      for (size_t done = 0; done < text.size();) {
        const ssize_t n = ::write(fds[1], text.data() + done, text.size() - done);
        if (n <= 0) break;
        done += size_t(n);
      }
      ::close(fds[1]);
    });
    const std::string path = "/proc/self/fd/" + std::to_string(fds[0]);
    try {
      EXPECT_EQ(load_spec_file(path).head_dim, 64) << size;
      EXPECT_LE(size, kMaxSpecBytes);
    } catch (const SpecError& e) {
      EXPECT_GT(size, kMaxSpecBytes);
      EXPECT_EQ(std::string(e.what()), path + ": spec: larger than the limit of 1048576 bytes (1 MiB)");
    }
    writer.join();
    ::close(fds[0]);
  }
}

TEST(SpecLimits, DirectoryAsSpecFileSaysItIsADirectory) {
  const std::string dir = std::filesystem::temp_directory_path().string();
  try {
    load_spec_file(dir);
    ADD_FAILURE() << "accepted";
  } catch (const SpecError& e) {
    ADD_FAILURE() << "reported as a bad spec: " << e.what();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "spec: cannot read '" + dir + "': is a directory, not a file");
  }
}

TEST(SpecMessages, LongUnknownKeyIsCutShort) {
  const std::string key(100000, 'k');
  const std::string p = only_problem(R"({"dtype":"f32","head_dim":64,"num_heads":4,")" + key + R"(":1})");
  EXPECT_EQ(p.rfind(std::string(40, 'k') + "...: unknown field; known fields: version", 0), 0u) << p.substr(0, 200);
  EXPECT_LT(p.size(), 300u);
}

TEST(SpecMessages, IllFormedUtf8AndControlBytesAreEscaped) {
  // In a key: nlohmann's syntax error echoes the token it read.
  std::string p = only_problem("{\"dtype\":\"f32\",\"\xff\xfe\":1}");
  EXPECT_NE(p.find("ill-formed UTF-8 byte; last read: '\"\\xff'"), std::string::npos) << p;
  // A long token is cut short as well.
  p = only_problem("{\"" + std::string(5000, 'a') + "\x80\":1}");
  EXPECT_NE(p.find("last read: '\"" + std::string(39, 'a') + "...'"), std::string::npos) << p;
  EXPECT_LT(p.size(), 300u);
  // Escaped control characters and well-formed UTF-8 in a value come back readable.
  p = only_problem(R"({"dtype":"f32\u0001\u00e9","head_dim":64,"num_heads":4})");
  EXPECT_EQ(p, "dtype: must be \"f32\", \"f16\" or \"bf16\", got \"f32\\u0001\u00e9\"");
  // Well-formed UTF-8 stays as it is; the stray byte after it is escaped.
  p = only_problem("{\"\xc3\xa9t\xe9\":1}");
  EXPECT_NE(p.find("last read: '\"\xc3\xa9t\\xe9\"'"), std::string::npos) << p;
}

TEST(SpecMessages, ManyProblemsAreCountedNotAllListed) {
  std::string json = R"({"dtype":"f32","head_dim":64,"num_heads":4)";
  for (int i = 0; i < 200; ++i) json += ",\"zz" + std::to_string(i) + "\":1";
  const std::vector<std::string> p = problems_of(json + "}");
  ASSERT_EQ(p.size(), 51u);
  EXPECT_EQ(p.back(), "spec: 150 more problems not listed");
}

}  // namespace
}  // namespace attngen
