// The CUDA template's index logic, run on the host: each case renders a
// kernel (codegen/cuda/render.cpp, no NVRTC), compiles it with the host's C++
// compiler together with tests/cuda_host/index_harness.cpp (which stands in
// for CUDA's built-ins), and walks every block of launches whose grid comes
// from launch_grid and kv_splits: GQA-packed and not, split-KV and not,
// padded lengths, bhsd and bshd. The harness checks which element each row
// loads, stores and reads, how splits share the key blocks, and (f32) the
// merge of their partial results (see its header). What runs on the tensor cores is for a GPU to check
// (scripts/gpu-check.sh); this is what can be checked without one.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <unistd.h>

#include "codegen/cuda/render.hpp"

namespace attngen::cuda {
namespace {

namespace fs = std::filesystem;

struct Launch {
  int64_t batch, sq, skv;
  bool packed;              // what launch_grid must choose
  const char* layout;       // bhsd or bshd
  const char* q_lens = "-";  // comma-separated, one per batch entry
  const char* kv_lens = "-";
  const char* prefix_lens = "-";
  int splits = 1;  // what kv_splits must choose on 132 SMs
};

std::string run(const std::string& cmd) {
  std::string out;
  FILE* f = popen((cmd + " 2>&1").c_str(), "r");
  if (!f) return "popen failed: " + cmd;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  const int status = pclose(f);
  return (status == 0 ? "" : "exit status " + std::to_string(status) + "\n") + out;
}

// Renders `json` for sm_80, builds the harness with it and runs each launch.
void check(const std::string& name, const std::string& json, const std::vector<Launch>& launches) {
  SCOPED_TRACE(name);
  const Spec spec = parse_spec(json);
  const RenderedKernel kernel = render_attention(spec, parse_arch("sm_80"));
  const fs::path dir = fs::temp_directory_path() / ("attngen-cuda-index-" + std::to_string(getpid()) + "-" + name);
  fs::create_directories(dir);
  // Inline PTX becomes a trap: clang checks asm constraints even in functions
  // that are never emitted, and none of it is what the harness runs.
  std::ofstream(dir / "kernel.cu") << std::regex_replace(kernel.source, std::regex(R"(\basm(\s+volatile)?\s*\()"),
                                                         "AG_HOST_ASM(");
  const std::string exe = (dir / "harness").string();
  const std::string build = std::string(ATTNGEN_TEST_CXX) + " -std=c++17 -O1 -w -DAG_RENDERED='\"" +
                            (dir / "kernel.cu").string() + "\"' " + ATTNGEN_SOURCE_DIR +
                            "/tests/cuda_host/index_harness.cpp -o " + exe;
  const std::string built = run(build);
  ASSERT_EQ(built, "") << build;
  for (const Launch& l : launches) {
    const LaunchGrid g = launch_grid(spec, kernel.launch, l.batch, l.sq);
    const int splits = kv_splits(spec, kernel.launch, g, l.sq, l.skv, 132);
    const std::string cmd = exe + " " + std::to_string(l.batch) + " " + std::to_string(l.sq) + " " +
                            std::to_string(l.skv) + " " + std::to_string(g.x) + " " + std::to_string(g.y) + " " +
                            std::to_string(g.z * splits) + " " + l.layout + " " + l.q_lens + " " + l.kv_lens + " " +
                            l.prefix_lens;
    EXPECT_EQ(g.gqa_packed, l.packed) << cmd;
    EXPECT_EQ(splits, l.splits) << cmd;
    const std::string out = run(cmd);
    EXPECT_EQ(out.rfind("ok: ", 0), 0u) << cmd << "\n" << out;
  }
  fs::remove_all(dir);
}

TEST(CudaIndexLogic, GqaPackedAndUnpackedTilesCoverEveryRowOnceAndSplitsShareTheKeys) {
  // 16-bit, 128-row tiles, 4 query heads a KV head: causal from the bottom
  // right, ALiBi and an additive mask (each row's head and query show in the
  // slope and the mask it reads), LSE out.
  check("gqa_bf16",
        R"({"dtype": "bf16", "head_dim": 128, "num_heads": 8, "num_kv_heads": 2, "return_lse": true,
            "mask": [{"type": "causal", "align": "bottom_right"}, {"type": "custom", "format": "additive"},
                     {"type": "padding"}],
            "score_mod": [{"type": "alibi"}]})",
        {{2, 1, 300, true, "bhsd"},
         {2, 3, 17, true, "bshd"},
         {2, 129, 129, true, "bhsd"},
         {2, 256, 200, false, "bhsd"},
         {2, 256, 200, false, "bshd", "256,3", "200,7"},
         {3, 17, 40, true, "bshd", "17,0,5", "40,3,0"},
         // Split-KV: 2 blocks, 16 key blocks in 4 shares; 4 blocks, 11 in 2.
         {1, 1, 1000, true, "bhsd", "-", "-", "-", 4},
         {2, 3, 700, true, "bshd", "3,1", "700,9", "-", 2}});
}

TEST(CudaIndexLogic, F32TilesWithDataMasksAndAWindow) {
  // f32, 32-row tiles, 2 query heads a KV head: a document mask, a sliding
  // window and a boolean custom mask (no full blocks: data masks).
  check("gqa_f32",
        R"({"dtype": "f32", "head_dim": 40, "head_dim_v": 24, "num_heads": 6, "num_kv_heads": 3, "return_lse": true,
            "mask": [{"type": "document"}, {"type": "sliding_window", "left": 9, "right": 2, "align": "bottom_right"},
                     {"type": "custom", "format": "bool"}, {"type": "padding"}]})",
        {{2, 1, 33, true, "bhsd"},
         {2, 33, 70, true, "bshd", "33,20", "70,1"},
         {2, 64, 70, false, "bhsd"},
         {1, 100, 7, true, "bhsd"},
         // The window bounds a tile's keys to 12 (one block): never split.
         {1, 1, 1000, true, "bhsd"},
         {2, 5, 300, true, "bshd", "5,2", "300,40"}});
  // A window wide enough to split: split-KV, and its merge run on the host.
  check("gqa_f32_wide",
        R"({"dtype": "f32", "head_dim": 40, "head_dim_v": 24, "num_heads": 6, "num_kv_heads": 3, "return_lse": true,
            "mask": [{"type": "document"}, {"type": "sliding_window", "left": 600, "right": 2, "align": "bottom_right"},
                     {"type": "custom", "format": "bool"}, {"type": "padding"}]})",
        // 3 blocks; 603 keys a row, at most 20 key blocks of 32 a tile, in 5 shares; Skv's 10 in 2.
        {{1, 1, 1000, true, "bhsd", "-", "-", "-", 5},
         {2, 5, 300, true, "bshd", "5,2", "300,40", "-", 2}});
}

TEST(CudaIndexLogic, OneHeadABlockWithoutGqa) {
  check("mha_prefix",
        R"({"dtype": "f16", "head_dim": 64, "num_heads": 3, "return_lse": true,
            "mask": [{"type": "prefix_lm"}, {"type": "chunked", "chunk": 16, "align": "top_left"}]})",
        {{2, 100, 130, false, "bhsd", "-", "-", "7,60"},
         {1, 1, 5, false, "bshd", "-", "-", "0"},
         {1, 2, 2000, false, "bhsd", "-", "-", "1"}});  // chunks of 16 keys: never split
  check("mha_prefix_wide",
        R"({"dtype": "f16", "head_dim": 64, "num_heads": 3, "return_lse": true,
            "mask": [{"type": "prefix_lm"}, {"type": "chunked", "chunk": 1024, "align": "bottom_right"}]})",
        // Chunks of 1024 keys: at most 18 key blocks a tile, in 4 shares (most of them empty for a
        // row whose chunk holds few keys yet; the merge skips them).
        {{1, 2, 2000, false, "bhsd", "-", "-", "1", 4}, {1, 2, 2000, false, "bhsd", "-", "-", "1500", 4}});
}

}  // namespace
}  // namespace attngen::cuda
