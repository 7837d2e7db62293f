// The llvm backend's parts on their own: rendering for each target, objects
// for other targets (aarch64, baseline x86-64), clang's diagnostics on a
// broken source, the cache image, linking and the tile choices. The numbers
// (every regression spec against the reference) are the backend sweep's.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "codegen/llvm/object_compiler.hpp"
#include "codegen/llvm/render.hpp"
#include "runtime/core/backend.hpp"
#include "runtime/llvm/llvm_backend.hpp"
#include "runtime/llvm/llvm_kernel.hpp"
#include "runtime/llvm/loaded_object.hpp"
#include "tests/error_of.hpp"
#include "tests/regression_specs.hpp"
#include "tools/common/workload.hpp"

namespace attngen::llvmgen {
namespace {

using testing::error_of;

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// e_machine of an ELF object: 62 x86-64, 183 AArch64.
int elf_machine(const std::vector<uint8_t>& o) {
  if (o.size() < 20 || std::memcmp(o.data(), "\x7f" "ELF", 4) != 0) return -1;
  return o[18] | (o[19] << 8);
}

const char* kCausal = R"({"dtype": "bf16", "head_dim": 72, "num_heads": 4, "num_kv_heads": 2,
  "mask": [{"type": "causal", "align": "bottom_right"}, {"type": "padding"}], "return_lse": true})";

TEST(LlvmTargets, LanesAndTilesFollowTheRegisterFile) {
  const TargetSpec sse = cross_target("x86_64-linux-gnu", "x86-64");
  const TargetSpec avx2 = cross_target("x86_64-linux-gnu", "x86-64-v3");
  const TargetSpec avx512 = cross_target("x86_64-linux-gnu", "x86-64-v4");
  const TargetSpec arm = cross_target("aarch64-linux-gnu", "");
  EXPECT_EQ(f32_lanes(sse), 4);
  EXPECT_EQ(f32_lanes(avx2), 8);
  EXPECT_EQ(f32_lanes(avx512), 16);
  EXPECT_EQ(f32_lanes(arm), 4);
  EXPECT_EQ(tiles_for(avx512).block_m, 32);
  EXPECT_EQ(tiles_for(avx2).block_m, 16);
  EXPECT_EQ(tiles_for(arm).block_m, 16);  // 32 NEON registers: 4 row vectors
  EXPECT_EQ(tiles_for(sse).block_m, 8);
  for (const TargetSpec& t : {sse, avx2, avx512, arm}) EXPECT_EQ(tiles_for(t).block_n % tiles_for(t).nr, 0);
  EXPECT_TRUE(has(error_of([] { cross_target("abacus-unknown-none", ""); }), "llvm: no code generator for target"));
}

TEST(LlvmRender, SpecAppearsAsConstantsAndMaskFunctions) {
  const Spec spec = parse_spec(kCausal);
  const RenderedCpuKernel r = render_cpu_attention(spec, cross_target("x86_64-linux-gnu", "x86-64-v3"));
  EXPECT_TRUE(has(r.source, "#define AG_DTYPE AG_DTYPE_BF16"));
  EXPECT_TRUE(has(r.source, "#define AG_HEAD_DIM 72"));
  EXPECT_TRUE(has(r.source, "#define AG_GROUP 2"));
  EXPECT_TRUE(has(r.source, "#define AG_LANES 8"));
  EXPECT_TRUE(has(r.source, "#define AG_RETURN_LSE 1"));
  EXPECT_TRUE(has(r.source, "// causal, bottom_right: j <= i'"));
  EXPECT_TRUE(has(r.source, "AG_INLINE agv ag_softcap(agv s) { return s; }"));
  EXPECT_EQ(r.symbol_prefix.rfind("attngen_bf16_d72_dv72_g2_", 0), 0u);
  // Softcap: a float polynomial for ordinary caps, libm's double tanh past the f32 range.
  const Spec capped = parse_spec(R"({"dtype": "f32", "head_dim": 64, "num_heads": 1, "score_mod": [{"type": "softcap", "cap": 30}]})");
  EXPECT_TRUE(has(render_cpu_attention(capped, host_target()).source, "ag_tanh(s *"));
  const Spec huge = parse_spec(R"({"dtype": "f32", "head_dim": 64, "num_heads": 1, "score_mod": [{"type": "softcap", "cap": 1e300}]})");
  EXPECT_TRUE(has(render_cpu_attention(huge, host_target()).source, "__builtin_tanh(double(s[x])"));
}

TEST(LlvmObjects, EveryRegressionSpecCompilesForAarch64) {
  const TargetSpec arm = cross_target("aarch64-linux-gnu", "");
  for (const std::string& name : testing::regression_specs()) {
    nlohmann::json j = testing::load_regression_spec(name);
    j["dtype"] = "f16";
    const CpuObjectImage image = build_object(parse_spec(j.dump()), arm);
    EXPECT_EQ(elf_machine(image.object), 183) << name;
  }
  EXPECT_EQ(elf_machine(build_object(parse_spec(kCausal), cross_target("x86_64-linux-gnu", "x86-64")).object), 62);
}

TEST(LlvmObjects, ABrokenSourceReportsClangsDiagnostics) {
  const std::string e = error_of([] { compile_to_object("extern \"C\" int f() { return undefined_name; }", host_target()); });
  EXPECT_TRUE(has(e, "llvm: the rendered kernel source did not compile:")) << e;
  EXPECT_TRUE(has(e, "undeclared identifier 'undefined_name'")) << e;
}

TEST(LlvmObjects, LinkedFunctionsRunAndMissingOnesAreErrors) {
  LoadedObject o(compile_to_object("extern \"C\" long twice(long x) { return 2 * x; }", host_target()));
  EXPECT_EQ(reinterpret_cast<long (*)(long)>(o.function("twice"))(21), 42);
  EXPECT_TRUE(has(error_of([&] { o.function("thrice"); }), "llvm: the kernel object has no function 'thrice'"));
  EXPECT_TRUE(has(error_of([] { LoadedObject bad(std::vector<uint8_t>{1, 2, 3}); }),
                  "llvm: cannot link the kernel object"));
}

TEST(LlvmImage, RoundTripsAndRefusesOtherBytes) {
  CpuObjectImage m{"attngen_x_", "one line", {0x7f, 'E', 'L', 'F', 1, 2}};
  const std::vector<uint8_t> bytes = encode_object_image(m);
  const CpuObjectImage back = decode_object_image(bytes);
  EXPECT_EQ(back.symbol_prefix, m.symbol_prefix);
  EXPECT_EQ(back.description, m.description);
  EXPECT_EQ(back.object, m.object);
  std::vector<uint8_t> cut(bytes.begin(), bytes.end() - 1);
  EXPECT_TRUE(has(error_of([&] { decode_object_image(cut); }), "llvm image: truncated"));
  std::vector<uint8_t> longer = bytes;
  longer.push_back(0);
  EXPECT_TRUE(has(error_of([&] { decode_object_image(longer); }), "llvm image: trailing bytes"));
  EXPECT_TRUE(has(error_of([] { decode_object_image({'x', 'y'}); }), "llvm image: not an image of this backend"));
}

// A kernel rebuilt from its cache image computes the same bits as the one compiled.
TEST(LlvmKernel, ReloadedImageComputesTheSameBits) {
  const Backend& b = llvm_backend();
  ASSERT_EQ(b.unavailable_reason(), "");
  const Spec spec = parse_spec(kCausal);
  const std::unique_ptr<Kernel> k = b.compile(spec);
  const std::unique_ptr<Kernel> again = b.deserialize(spec, k->serialize());
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->key(), k->key());
  EXPECT_EQ(b.deserialize(spec, {1, 2, 3}), nullptr);
  WorkloadOptions opt;
  opt.batch = 3, opt.sq = 37, opt.skv = 45;
  Workload w1(spec, opt), w2(spec, opt);
  k->run(w1.args(), RunOptions{2});
  again->run(w2.args(), RunOptions{1});
  EXPECT_EQ(w1.o(), w2.o());
  EXPECT_EQ(std::memcmp(w1.lse().data(), w2.lse().data(), w1.lse().size() * sizeof(float)), 0);
  const Comparison c = compare_with_reference(w1, w1.o(), &w1.lse());
  EXPECT_LE(c.rel_err, default_tolerance(spec.dtype)) << c.summary();
  EXPECT_FALSE(k->details().empty());
  EXPECT_EQ(k->code_blobs().size(), 2u);  // the rendered source and the object
  EXPECT_EQ(again->code_blobs().size(), 1u);
}

TEST(LlvmKernel, EnvironmentSummaryNamesTheTarget) {
  EXPECT_TRUE(has(environment_summary(), "llvm 16")) << environment_summary();
}

}  // namespace
}  // namespace attngen::llvmgen
