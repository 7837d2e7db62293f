// The CUDA renderer on its own (no NVRTC, no GPU): every regression spec
// renders, the spec's masks and score mods appear as the constants and device
// functions the template expects, tile choices follow the dtype and head
// dims, and bad archs, unsupported specs and schedule overrides are errors
// that say what was expected.
#include <gtest/gtest.h>

#include "tests/error_of.hpp"

#include <cstdlib>
#include <string>

#include "codegen/cuda/render.hpp"
#include "runtime/core/error.hpp"
#include "tests/regression_specs.hpp"
#include "tests/scoped_env.hpp"

namespace attngen::cuda {
namespace {

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

using testing::error_of;
using testing::ScopedEnv;

RenderedKernel render(const std::string& json, const char* arch = "sm_80") {
  return render_attention(parse_spec(json), parse_arch(arch));
}

TEST(CudaRender, ArchNames) {
  EXPECT_EQ(parse_arch("sm_80").name(), "sm_80");
  EXPECT_EQ(parse_arch("90a").name(), "sm_90a");
  EXPECT_EQ(parse_arch("sm_86").sm, 86);
  EXPECT_TRUE(parse_arch("sm_90a").accel);
  for (const char* bad : {"sm_70", "sm_x", "", "sm_", "sm_1000", "80b"})
    EXPECT_TRUE(has(error_of([&] { parse_arch(bad); }), "--arch: expected an NVIDIA architecture sm_80 or newer"))
        << bad;
}

TEST(CudaRender, EveryRegressionSpecRendersWithItsSpecAndEntry) {
  for (const std::string& name : testing::regression_specs()) {
    for (const char* dtype : {"f32", "f16", "bf16"}) {
      nlohmann::json j = testing::load_regression_spec(name);
      j["dtype"] = dtype;
      const Spec spec = parse_spec(j.dump());
      const RenderedKernel r = render_attention(spec, parse_arch("sm_90a"));
      SCOPED_TRACE(name + " " + dtype);
      EXPECT_TRUE(has(r.source, "// spec: " + canonical_json(spec)));
      EXPECT_TRUE(has(r.source, "#define AG_ENTRY " + r.entry + "\n"));
      EXPECT_TRUE(has(r.source, "extern \"C\" __global__"));
      EXPECT_TRUE(has(r.source, "struct AttnParams {"));
      EXPECT_EQ(r.entry.rfind(std::string("attngen_fwd_") + dtype + "_d", 0), 0u) << r.entry;
      EXPECT_EQ(r.launch.threads % 32, 0);
      EXPECT_EQ(r.launch.block_m % 16, 0);
      EXPECT_GT(r.launch.smem_bytes, 0);
      EXPECT_TRUE(has(r.description, "sm_90a"));
    }
  }
}

TEST(CudaRender, IndexMasksBecomeOneIntervalPerRow) {
  const std::string causal_tl = render(R"({"dtype": "bf16", "head_dim": 64, "num_heads": 2,
      "mask": [{"type": "causal", "align": "top_left"}]})").source;
  EXPECT_TRUE(has(causal_tl, "// causal, top_left: j <= i'\n  { const ag_i64 v = i; hi = v < hi ? v : hi; }"));
  const std::string causal_br = render(R"({"dtype": "bf16", "head_dim": 64, "num_heads": 2,
      "mask": [{"type": "causal", "align": "bottom_right"}]})").source;
  EXPECT_TRUE(has(causal_br, "{ const ag_i64 v = (i + c.skv - c.sq); hi = v < hi ? v : hi; }"));
  const std::string window = render(R"({"dtype": "f16", "head_dim": 64, "num_heads": 2,
      "mask": [{"type": "sliding_window", "left": 32, "right": null, "align": "top_left"}]})").source;
  EXPECT_TRUE(has(window, "{ const ag_i64 v = i - 32LL; lo = v > lo ? v : lo; }"));
  EXPECT_FALSE(has(window, "hi = v < hi"));  // no right bound
  const std::string chunked = render(R"({"dtype": "f32", "head_dim": 64, "num_heads": 2,
      "mask": [{"type": "chunked", "chunk": 7, "align": "top_left"}]})").source;
  EXPECT_TRUE(has(chunked, "ag_floor_div(i, 7LL) * 7LL"));
  const std::string prefix = render(R"({"dtype": "f32", "head_dim": 64, "num_heads": 2,
      "mask": [{"type": "prefix_lm", "prefix": 10}]})").source;
  EXPECT_TRUE(has(prefix, "ag_static_prefix() { return 10LL; }"));
  EXPECT_TRUE(has(prefix, "(i > c.prefix - 1 ? i : c.prefix - 1)"));
  // Data masks are flags the template tests at compile time.
  const std::string data = render(R"({"dtype": "bf16", "head_dim": 64, "num_heads": 2,
      "mask": [{"type": "document"}, {"type": "custom", "format": "bool"}]})").source;
  EXPECT_TRUE(has(data, "#define AG_HAS_DOCUMENT 1\n"));
  EXPECT_TRUE(has(data, "#define AG_HAS_CUSTOM_BOOL 1\n"));
  EXPECT_TRUE(has(data, "#define AG_HAS_DATA_MASK 1\n"));
  const std::string none = render(R"({"dtype": "bf16", "head_dim": 64, "num_heads": 2})").source;
  EXPECT_TRUE(has(none, "#define AG_HAS_DATA_MASK 0\n"));
  EXPECT_TRUE(has(none, "#define AG_PLAIN_SCORE 1"));
}

TEST(CudaRender, SoftcapIsExactForEveryCap) {
  const std::string gemma = render(R"({"dtype": "bf16", "head_dim": 64, "num_heads": 2,
      "score_mod": [{"type": "softcap", "cap": 50.0}]})").source;
  EXPECT_TRUE(has(gemma, "tanhf(s * "));
  EXPECT_TRUE(has(gemma, "#define AG_PLAIN_SCORE 0"));
  // Past the float range: in double, cap as an exact hexadecimal literal.
  const std::string huge = render(R"({"dtype": "f32", "head_dim": 64, "num_heads": 2,
      "score_mod": [{"type": "softcap", "cap": 1e300}]})").source;
  EXPECT_TRUE(has(huge, "tanh(double(s) / 0x1."));
  const std::string none = render(R"({"dtype": "f32", "head_dim": 64, "num_heads": 2})").source;
  EXPECT_TRUE(has(none, "float ag_softcap(float s) {\n  return s;\n}"));
}

TEST(CudaRender, TilesFollowDtypeAndHeadDims) {
  const RenderedKernel small = render(R"({"dtype": "bf16", "head_dim": 128, "num_heads": 2})");
  EXPECT_EQ(small.launch.threads, 256);
  EXPECT_EQ(small.launch.block_m, 128);
  EXPECT_TRUE(has(small.source, "#define AG_Q_IN_REGISTERS 1\n"));
  const RenderedKernel big = render(R"({"dtype": "f16", "head_dim": 256, "num_heads": 2})");
  EXPECT_EQ(big.launch.threads, 128);
  EXPECT_EQ(big.launch.block_m, 64);
  EXPECT_TRUE(has(big.source, "#define AG_Q_IN_REGISTERS 0\n"));
  const RenderedKernel odd = render(R"({"dtype": "bf16", "head_dim": 33, "head_dim_v": 17, "num_heads": 2})");
  EXPECT_TRUE(has(odd.source, "#define AG_D_PAD 48\n"));
  EXPECT_TRUE(has(odd.source, "#define AG_DV_PAD 32\n"));
  const RenderedKernel f32 = render(R"({"dtype": "f32", "head_dim": 64, "num_heads": 2})");
  EXPECT_EQ(f32.launch.threads, 128);
  EXPECT_EQ(f32.launch.block_m, 32);
  EXPECT_TRUE(has(f32.description, "f32 CUDA-core FMA"));
  // ptxas is asked for the blocks per SM that the arch's shared memory
  // allows, at most 4: at D 256, two on sm_90a (227 KiB), one on sm_80 (163).
  EXPECT_TRUE(has(f32.source, "#define AG_MIN_BLOCKS 4\n"));
  const char* f32_d256 = R"({"dtype": "f32", "head_dim": 256, "num_heads": 2})";
  EXPECT_TRUE(has(render(f32_d256, "sm_90a").source, "#define AG_MIN_BLOCKS 2\n"));
  EXPECT_TRUE(has(render(f32_d256).source, "#define AG_MIN_BLOCKS 1\n"));
  // The scale as an exact float literal.
  EXPECT_TRUE(has(f32.source, "#define AG_SCALE 0x1p-3f\n"));
}

TEST(CudaRender, GqaPacksAGroupsHeadsIntoABlockWhereThatNeedsFewerBlocks) {
  const Spec gqa = parse_spec(R"({"dtype": "bf16", "head_dim": 128, "num_heads": 32, "num_kv_heads": 8})");
  const LaunchShape shape = render_attention(gqa, parse_arch("sm_90a")).launch;
  ASSERT_EQ(shape.block_m, 128);
  const auto grid = [&](const Spec& s, int64_t batch, int64_t sq) {
    const LaunchGrid g = launch_grid(s, shape, batch, sq);
    return std::to_string(g.x) + "x" + std::to_string(g.y) + "x" + std::to_string(g.z) + (g.gqa_packed ? " packed" : "");
  };
  // Decoding: one row in each head's tile, or the group's 4 heads in one block.
  EXPECT_EQ(grid(gqa, 3, 1), "1x8x3 packed");
  EXPECT_EQ(grid(gqa, 3, 32), "1x8x3 packed");
  EXPECT_EQ(grid(gqa, 3, 33), "2x8x3 packed");
  // 129 queries: 2 tiles a head (the second with one row) or 5 a group.
  EXPECT_EQ(grid(gqa, 2, 129), "5x8x2 packed");
  // Whole tiles: as many blocks either way, so each head keeps its own.
  EXPECT_EQ(grid(gqa, 2, 256), "2x32x2");
  EXPECT_EQ(grid(gqa, 1, 8192), "64x32x1");
  // Without GQA there is nothing to pack.
  const Spec mha = parse_spec(R"({"dtype": "bf16", "head_dim": 128, "num_heads": 32})");
  EXPECT_EQ(grid(mha, 3, 1), "1x32x3");
  // The kernel tells the packed launch by its grid.
  EXPECT_TRUE(has(render_attention(gqa, parse_arch("sm_80")).source, "gridDim.y == AG_NUM_HEADS / AG_GROUP"));
}

TEST(CudaRender, KeysAreSplitWhereTheBlocksLeaveSmsIdle) {
  const Spec gqa = parse_spec(R"({"dtype": "bf16", "head_dim": 128, "num_heads": 32, "num_kv_heads": 8})");
  const RenderedKernel k = render_attention(gqa, parse_arch("sm_90a"));
  ASSERT_EQ(k.launch.block_n, 64);
  EXPECT_EQ(k.merge_entry, k.entry + "_merge");
  EXPECT_TRUE(has(k.source, "#define AG_MERGE_ENTRY " + k.merge_entry + "\n"));
  const auto splits = [&](int64_t batch, int64_t sq, int64_t skv, int sms) {
    return kv_splits(gqa, k.launch, launch_grid(gqa, k.launch, batch, sq), sq, skv, sms);
  };
  // Decoding, B 1: 8 packed blocks on 132 SMs; 8192 keys are 128 key blocks.
  EXPECT_EQ(splits(1, 1, 8192, 132), 16);
  EXPECT_EQ(splits(1, 1, 1 << 20, 132), 16);  // SMs bound it
  EXPECT_EQ(splits(1, 1, 1 << 20, 1000), kMaxKvSplits);
  EXPECT_EQ(splits(1, 1, 1000, 132), 4);      // 16 key blocks: shares of at least 4
  EXPECT_EQ(splits(1, 1, 500, 132), 2);
  EXPECT_EQ(splits(1, 1, 250, 132), 1);       // 4 key blocks: one share
  EXPECT_EQ(splits(16, 1, 8192, 132), 1);     // 128 blocks: no SM left for a second split
  EXPECT_EQ(splits(1, 1, 8192, 0), 1);        // SM count unknown
  EXPECT_EQ(split_workspace_bytes(gqa, 16, 1, 1), 4 * 16 * 32 * 129);

  // A sliding window bounds a tile's keys whatever Skv: a window of 128 keys
  // (3 blocks at most) is not split; one of 1024 keys (17 blocks) in 4 shares.
  const auto window_splits = [](int64_t left, int64_t batch, int64_t sq, int64_t skv) {
    const Spec s = parse_spec(R"({"dtype": "bf16", "head_dim": 128, "num_heads": 32, "num_kv_heads": 8, "mask":
        [{"type": "sliding_window", "left": )" + std::to_string(left) + R"(, "right": 0, "align": "bottom_right"}]})");
    const RenderedKernel r = render_attention(s, parse_arch("sm_90a"));
    return kv_splits(s, r.launch, launch_grid(s, r.launch, batch, sq), sq, skv, 132);
  };
  EXPECT_EQ(window_splits(127, 1, 1, 32768), 1);
  EXPECT_EQ(window_splits(1023, 1, 1, 32768), 4);
  EXPECT_EQ(window_splits(1023, 1, 1, 500), 2);     // Skv bounds it first
  EXPECT_EQ(window_splits(4095, 1, 1, 32768), 16);  // 65 blocks: the SMs bound it
  // 3 queries packed with their 4 heads a tile: 130 keys, 4 blocks at most.
  EXPECT_EQ(window_splits(127, 1, 3, 32768), 1);
}

TEST(CudaRender, UnsupportedSpecsSayWhy) {
  const Spec wide = parse_spec(R"({"dtype": "bf16", "head_dim": 300, "num_heads": 2})");
  EXPECT_TRUE(has(unsupported_reason(wide), "head_dim and head_dim_v up to 256, got 300 and 300"));
  EXPECT_TRUE(has(error_of([&] { render_attention(wide, parse_arch("sm_80")); }), "cuda: the CUDA template"));
  const Spec heads = parse_spec(R"({"dtype": "bf16", "head_dim": 64, "num_heads": 65536})");
  EXPECT_TRUE(has(unsupported_reason(heads), "at most 65535, got 65536"));
  EXPECT_EQ(unsupported_reason(parse_spec(R"({"dtype": "bf16", "head_dim": 256, "num_heads": 2})")), "");
}

TEST(CudaRender, TileOverrideIsInTheTagAndTheLaunch) {
  const ScopedEnv tile("ATTNGEN_CUDA_TILE", "64x32");
  EXPECT_EQ(schedule_tag(), "/tile-64x32");
  const RenderedKernel r = render(R"({"dtype": "bf16", "head_dim": 128, "num_heads": 2})");
  EXPECT_EQ(r.launch.block_m, 64);
  EXPECT_EQ(r.launch.threads, 128);
  EXPECT_TRUE(has(r.source, "#define AG_BLOCK_N 32\n"));
  EXPECT_TRUE(has(r.source, "#define AG_WARP_M_TILES 1\n"));
  // Warps of 32 rows: half the warps, each K/V fragment feeds two MMAs, Q is
  // re-read from shared memory where two row blocks of it would not fit.
  tile.set("128x32w4");
  EXPECT_EQ(schedule_tag(), "/tile-128x32w4");
  const RenderedKernel w = render(R"({"dtype": "bf16", "head_dim": 128, "num_heads": 2})");
  EXPECT_EQ(w.launch.block_m, 128);
  EXPECT_EQ(w.launch.threads, 128);
  EXPECT_TRUE(has(w.source, "#define AG_WARP_M_TILES 2\n"));
  EXPECT_TRUE(has(w.source, "#define AG_Q_IN_REGISTERS 0\n"));
  EXPECT_TRUE(has(w.description, "4 warps of 32 rows"));
  EXPECT_TRUE(has(render(R"({"dtype": "f16", "head_dim": 64, "num_heads": 2})").source, "#define AG_Q_IN_REGISTERS 1\n"));
  tile.set("128x64w8");  // the default's warps, spelled out
  EXPECT_EQ(schedule_tag(), "/tile-128x64");
  const std::string expected =
      "ATTNGEN_CUDA_TILE: expected 64x32, 64x64, 128x32 or 128x64 (query rows x keys per block), optionally with wW "
      "for W warps of 16 or 32 rows each (128x64w4), or MxNwg for sm_90a's warpgroup MMA (M 64, 128 or 192, N 64 or "
      "128: 128x128wg; MxNwgp pipelined; 128xNws warp-specialised; 128xNwsp ping-pong), or MxNkW for decoding, W "
      "warps splitting the keys of M rows they all own (M 16 or 32, N 32 or 64, W 2, 4 or 8: 16x32k4), got '";
  for (const char* bad : {"96x\x01", "128x64w3", "128x64w", "128x64x4", "64x64w4x", "w4", "128x32wg", "256x64wg",
                          "128x128", "128x128w8", "128x128wgg", "x64wg", "1280x64", "128x064wg4", "128x64wp",
                          "128x64wgpp", "192x128ws", "64x64ws", "128x32ws", "128x64wss", "128x64wsg", "128x64wspp", "128x64wps", "192x64wsp",
                          "16x32k3", "64x32k4", "16x16k4", "16x128k2", "16x32k", "16x32k4x", "16x32k04", "16x32kw4",
                          "16x32wk4", "k4", "16x32"}) {
    tile.set(bad);
    std::string shown = bad;
    for (char& c : shown)
      if (c < 0x20) c = '?';
    EXPECT_EQ(error_of([] { schedule_tag(); }), expected + shown + "'") << bad;
  }
  tile.unset();
  EXPECT_EQ(schedule_tag(), "");
}

// Warpgroups of 64 rows on wgmma (sm_90a only): the instructions are rendered
// for the spec's key block and Dv, tiles sit in shared memory as core matrices
// (no padding).
TEST(CudaRender, WgmmaScheduleRendersWarpgroupMmas) {
  const ScopedEnv tile("ATTNGEN_CUDA_TILE", "128x128wg");
  EXPECT_EQ(schedule_tag(), "/tile-128x128wg");
  const Spec spec = parse_spec(R"({"dtype": "bf16", "head_dim": 128, "head_dim_v": 72, "num_heads": 2})");
  const RenderedKernel r = render_attention(spec, parse_arch("sm_90a"));
  EXPECT_EQ(r.launch.block_m, 128);
  EXPECT_EQ(r.launch.threads, 256);
  EXPECT_EQ(r.launch.smem_bytes, 2 * (128 * 128 + 128 * 128 + 128 * 80));
  EXPECT_TRUE(has(r.description, "bf16 wgmma m64n128k16, 128x128 tiles, 2 warpgroups")) << r.description;
  EXPECT_TRUE(has(r.source, "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1,"));
  EXPECT_TRUE(has(r.source, "wgmma.mma_async.sync.aligned.m64n80k16.f32.bf16.bf16 {%0, %1,"));
  EXPECT_TRUE(has(r.source, "%39}, {%40, %41, %42, %43}, %44, p, 1, 1, 1;"));  // P from registers, V N-major
  EXPECT_TRUE(has(r.source, "%63}, %64, %65, p, 1, 1, 0, 0;"));               // Q and K K-major
  EXPECT_TRUE(has(r.source, "\"+f\"(d[9][3])"));
  // The body issues no mma.sync (ptx.cuh defines it for every kernel).
  const std::string body = r.source.substr(r.source.find("// ---- templates/cuda/attention_fwd_wgmma.cu"));
  EXPECT_FALSE(has(body, "ag_mma(") || has(body, "ag_ldmatrix"));
  EXPECT_TRUE(has(body, "ag_issue_qk("));
  EXPECT_EQ(error_of([&] { render_attention(spec, parse_arch("sm_90")); }),
            "ATTNGEN_CUDA_TILE=128x128wg: warpgroup MMA (wgmma) needs --arch sm_90a, got sm_90");
  tile.set("192x64wg");
  const RenderedKernel f = render_attention(parse_spec(R"({"dtype": "f16", "head_dim": 64, "num_heads": 2})"),
                                            parse_arch("sm_90a"));
  EXPECT_EQ(f.launch.threads, 384);
  EXPECT_TRUE(has(f.source, "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16"));
  // Pipelined: K and V twice in shared memory; a tile that no longer fits is refused by name.
  tile.set("128x64wgp");
  EXPECT_EQ(schedule_tag(), "/tile-128x64wgp");
  const RenderedKernel pp = render_attention(spec, parse_arch("sm_90a"));
  EXPECT_EQ(pp.launch.smem_bytes, 2 * (128 * 128 + 2 * 64 * (128 + 80)));
  EXPECT_TRUE(has(pp.source, "#define AG_WGMMA_PIPELINED 1\n"));
  EXPECT_TRUE(has(pp.description, "bf16 pipelined wgmma m64n64k16, 128x64 tiles")) << pp.description;
  EXPECT_TRUE(has(r.source, "#define AG_WGMMA_PIPELINED 0\n"));
  tile.set("128x128wgp");
  EXPECT_EQ(error_of([] {
              render_attention(parse_spec(R"({"dtype": "bf16", "head_dim": 256, "num_heads": 2})"), parse_arch("sm_90a"));
            }),
            "ATTNGEN_CUDA_TILE=128x128wgp: needs 327680 B of shared memory for head dims 256/256, more than the 232448 B "
            "a block can have on sm_90a");
  // Warp-specialised: a producer warpgroup before the two consumers, K and V
  // twice, the stages' mbarriers after the tiles, the register split rendered.
  tile.set("128x128ws");
  EXPECT_EQ(schedule_tag(), "/tile-128x128ws");
  const RenderedKernel ws = render_attention(spec, parse_arch("sm_90a"));
  EXPECT_EQ(ws.launch.threads, 384);
  EXPECT_EQ(ws.launch.block_m, 128);
  EXPECT_EQ(ws.launch.smem_bytes, 2 * (128 * 128 + 2 * 128 * (128 + 80)) + 128);
  EXPECT_TRUE(has(ws.description, "bf16 warp-specialised wgmma m64n128k16, 128x128 tiles, 1 producer + 2 consumer "
                                  "warpgroups")) << ws.description;
  EXPECT_TRUE(has(ws.source, "#define AG_WGMMA_SPECIALIZED 1\n#define AG_WGMMA_PINGPONG 0\n#define AG_PRODUCER_REGS 24\n"
                             "#define AG_CONSUMER_REGS 240\n"));
  EXPECT_TRUE(has(ws.source, "// ---- templates/cuda/attention_fwd_wgmma_ws.cu\n"));
  EXPECT_TRUE(has(pp.source, "#define AG_WGMMA_SPECIALIZED 0\n"));
  EXPECT_FALSE(has(pp.source, "// ---- templates/cuda/attention_fwd_wgmma_ws.cu"));
  EXPECT_EQ(error_of([&] { render_attention(spec, parse_arch("sm_80")); }),
            "ATTNGEN_CUDA_TILE=128x128ws: warpgroup MMA (wgmma) needs --arch sm_90a, got sm_80");
  // Ping-pong: the same kernel, its consumers taking turns.
  tile.set("128x64wsp");
  EXPECT_EQ(schedule_tag(), "/tile-128x64wsp");
  const RenderedKernel wsp = render_attention(spec, parse_arch("sm_90a"));
  EXPECT_EQ(wsp.launch.threads, 384);
  EXPECT_TRUE(has(wsp.source, "#define AG_WGMMA_PINGPONG 1\n"));
  EXPECT_TRUE(has(wsp.description, "bf16 ping-pong warp-specialised wgmma m64n64k16")) << wsp.description;
  // f32 keeps its CUDA-core kernel whatever the schedule.
  EXPECT_TRUE(has(render(R"({"dtype": "f32", "head_dim": 64, "num_heads": 2})").description, "f32 CUDA-core FMA"));
}

// Decoding tiles (MxNkW): every warp owns the tile's rows, the warps split
// each step's keys (a block of N each) and merge their states at the end.
TEST(CudaRender, KeySplitScheduleSharesRowsAndSplitsKeys) {
  const ScopedEnv tile("ATTNGEN_CUDA_TILE", "16x32k4");
  EXPECT_EQ(schedule_tag(), "/tile-16x32k4");
  const Spec spec = parse_spec(R"({"dtype": "bf16", "head_dim": 128, "num_heads": 32, "num_kv_heads": 8})");
  const RenderedKernel r = render_attention(spec, parse_arch("sm_90a"));
  EXPECT_EQ(r.launch.block_m, 16);
  EXPECT_EQ(r.launch.block_n, 32);
  EXPECT_EQ(r.launch.threads, 128);
  // Q, then K and V of 4 blocks of 32 keys (rows padded by 8 elements).
  EXPECT_EQ(r.launch.smem_bytes, 2 * (16 * 136 + 4 * 32 * (136 + 136)));
  EXPECT_TRUE(has(r.source, "#define AG_KEY_WARPS 4\n"));
  EXPECT_TRUE(has(r.source, "#define AG_WARP_M_TILES 1\n"));
  EXPECT_TRUE(has(r.source, "#define AG_MIN_BLOCKS 2\n"));
  EXPECT_TRUE(has(r.source, "// ---- templates/cuda/mma_tiles.cuh\n"));
  EXPECT_TRUE(has(r.source, "// ---- templates/cuda/attention_fwd_decode.cu\n"));
  EXPECT_FALSE(has(r.source, "// ---- templates/cuda/attention_fwd_mma.cu"));
  EXPECT_TRUE(has(r.description, "bf16 mma.sync m16n8k16, 16x32 tiles, 4 warps splitting the keys (128 a step)"))
      << r.description;
  // A decoding step of GQA 4 packs the group's heads into the 16 rows.
  EXPECT_TRUE(launch_grid(spec, r.launch, 1, 1).gqa_packed);
  EXPECT_EQ(launch_grid(spec, r.launch, 1, 1).x, 1);
  // Split-KV counts two blocks an SM and shares of at least 4 steps (of 4
  // blocks of 32 keys).
  EXPECT_EQ(r.launch.key_warps, 4);
  EXPECT_EQ(r.launch.sm_blocks, 2);
  const auto splits = [&](int64_t batch, int64_t skv) {
    return kv_splits(spec, r.launch, launch_grid(spec, r.launch, batch, 1), 1, skv, 132);
  };
  EXPECT_EQ(splits(1, 8192), 16);   // 64 steps
  EXPECT_EQ(splits(16, 8192), 2);   // 128 blocks: 264 fit
  EXPECT_EQ(splits(64, 4096), 1);   // 512 blocks
  EXPECT_EQ(splits(1, 2048), 4);    // 16 steps
  EXPECT_EQ(splits(1, 500), 1);     // 4 steps: one share
  // Two row blocks a warp; the merge's buffer (f32 O rows of each warp) can
  // outgrow K and V where Dv is the larger head dim.
  tile.set("32x32k4");
  const RenderedKernel wide =
      render_attention(parse_spec(R"({"dtype": "f16", "head_dim": 64, "head_dim_v": 128, "num_heads": 2})"),
                       parse_arch("sm_80"));
  EXPECT_TRUE(has(wide.source, "#define AG_WARP_M_TILES 2\n"));
  EXPECT_EQ(wide.launch.smem_bytes, 2 * 32 * 72 + 4 * 4 * 32 * (2 + 128 + 8));
  // Shared memory past what a block of the arch may have is refused by name.
  tile.set("16x32k4");
  const Spec d256 = parse_spec(R"({"dtype": "bf16", "head_dim": 256, "num_heads": 2})");
  EXPECT_TRUE(has(render_attention(d256, parse_arch("sm_80")).source, "#define AG_MIN_BLOCKS 1\n"));
  EXPECT_EQ(error_of([&] { render_attention(d256, parse_arch("sm_86")); }),
            "ATTNGEN_CUDA_TILE=16x32k4: needs 143616 B of shared memory for head dims 256/256, more than the 101376 B "
            "a block can have on sm_86");
  // f32 keeps its CUDA-core kernel.
  EXPECT_TRUE(has(render(R"({"dtype": "f32", "head_dim": 64, "num_heads": 2})").description, "f32 CUDA-core FMA"));
}

// f32 at head dim 256: 32-key blocks need 102912 B of shared memory, more
// than a block of sm_86 or sm_89 may have (99 KiB): 16-key blocks there.
TEST(CudaRender, F32TileFitsTheArchsSharedMemory) {
  const Spec d256 = parse_spec(R"({"dtype": "f32", "head_dim": 256, "num_heads": 2})");
  const RenderedKernel a100 = render_attention(d256, parse_arch("sm_80"));
  EXPECT_EQ(a100.launch.block_n, 32);
  EXPECT_EQ(a100.launch.smem_bytes, 4 * (32 * 257 * 3 + 32 * 33));
  for (const char* arch : {"sm_86", "sm_89"}) {
    const RenderedKernel r = render_attention(d256, parse_arch(arch));
    EXPECT_EQ(r.launch.block_n, 16) << arch;
    EXPECT_EQ(r.launch.smem_bytes, 4 * (32 * 257 + 16 * 257 * 2 + 32 * 17)) << arch;
    EXPECT_TRUE(has(r.source, "#define AG_BLOCK_N 16\n")) << arch;
  }
  EXPECT_EQ(render_attention(parse_spec(R"({"dtype": "f32", "head_dim": 128, "num_heads": 2})"), parse_arch("sm_89"))
                .launch.block_n,
            32);
}

// The f32 kernel is bounded for as many blocks an SM as shared memory holds
// (at most 4), and split-KV counts them: a decode that fills a quarter of an
// H100's block slots is not split as if it filled them all.
TEST(CudaRender, F32SplitKvCountsTheBlocksAnSmHolds) {
  const Spec spec = parse_spec(R"({"dtype": "f32", "head_dim": 128, "num_heads": 32, "num_kv_heads": 8})");
  const RenderedKernel h100 = render_attention(spec, parse_arch("sm_90a"));
  const RenderedKernel a100 = render_attention(spec, parse_arch("sm_80"));
  EXPECT_TRUE(has(h100.source, "#define AG_MIN_BLOCKS 4\n"));
  EXPECT_EQ(h100.launch.sm_blocks, 4);  // 53760 B each, 227 KiB an SM
  EXPECT_EQ(a100.launch.sm_blocks, 3);  // 163 KiB
  const auto splits = [&](const RenderedKernel& r, int64_t batch, int64_t skv) {
    return kv_splits(spec, r.launch, launch_grid(spec, r.launch, batch, 1), 1, skv, 132);
  };
  // B 16, one query: 128 packed blocks of 32 rows (4 heads of a group).
  EXPECT_EQ(splits(h100, 16, 8192), 4);   // 528 slots
  EXPECT_EQ(splits(a100, 16, 8192), 3);   // 396
  EXPECT_EQ(splits(h100, 64, 8192), 1);   // 512 blocks: a wave
  EXPECT_EQ(splits(h100, 1, 8192), 32);   // 8 blocks: the most splits
}

// Every inline PTX statement lies between the ptx.cuh header and
// attention_common.cuh's (ptx.cuh, then the rendered wgmma MMAs): the part the
// block emulator replaces (tests/cuda_host/README.md), for every compute path.
TEST(CudaRender, InlinePtxIsOnlyInThePtxPart) {
  const ScopedEnv tile_env("ATTNGEN_CUDA_TILE", "");
  for (const char* tile : {"", "128x64wgp", "128x128ws", "128x64wsp", "16x32k4"})
    for (const char* dtype : {"f32", "bf16"}) {
      if (*tile) tile_env.set(tile);
      else tile_env.unset();
      const std::string s =
          render(std::string(R"({"dtype": ")") + dtype + R"(", "head_dim": 64, "num_heads": 2})", "sm_90a").source;
      const size_t from = s.find("// ---- templates/cuda/ptx.cuh\n"),
                   to = s.find("// ---- templates/cuda/attention_common.cuh\n");
      ASSERT_NE(from, std::string::npos);
      ASSERT_NE(to, std::string::npos);
      const std::string ptx = s.substr(from, to - from), rest = s.substr(0, from) + s.substr(to);
      EXPECT_TRUE(has(ptx, "asm("));
      EXPECT_FALSE(has(rest, "asm(") || has(rest, "asm volatile")) << tile << " " << dtype;
      EXPECT_EQ(has(ptx, "wgmma.mma_async"), std::string(tile).find('w') != std::string::npos &&
                                                 std::string(dtype) != "f32")
          << tile << " " << dtype;  // f32 has no wgmma schedule
    }
}

}  // namespace
}  // namespace attngen::cuda
