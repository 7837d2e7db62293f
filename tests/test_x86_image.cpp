// x86 kernels survive the disk cache: an image maps back into a kernel that
// computes the same bits, and a damaged image is refused, never run.
#include <gtest/gtest.h>

#include "runtime/x86/x86_backend.hpp"
#include "tools/common/workload.hpp"

namespace attngen {
namespace {

const char* kSpecs[] = {
    R"({"dtype": "f32", "head_dim": 64, "num_heads": 4, "num_kv_heads": 2,
        "mask": [{"type": "causal", "align": "bottom_right"}]})",
    R"({"dtype": "bf16", "head_dim": 80, "num_heads": 2, "return_lse": true,
        "score_mod": [{"type": "softcap", "cap": 10.0}, {"type": "alibi"}],
        "mask": [{"type": "padding"}, {"type": "custom", "format": "additive"}]})",
};

TEST(X86Image, RoundTripComputesTheSameBits) {
  const Backend& x86 = x86_backend();
  if (!x86.unavailable_reason().empty()) GTEST_SKIP() << x86.unavailable_reason();
  for (const char* text : kSpecs) {
    const Spec spec = parse_spec(text);
    const auto built = x86.compile(spec);
    const std::vector<uint8_t> image = built->serialize();
    ASSERT_FALSE(image.empty());
    const auto loaded = x86.deserialize(spec, image);
    ASSERT_NE(loaded, nullptr);
    EXPECT_EQ(loaded->key(), built->key());
    for (int64_t sq : {1, 37}) {
      WorkloadOptions opt;
      opt.batch = 2, opt.sq = sq, opt.skv = 150, opt.additive_in_spec_dtype = true;
      Workload a(spec, opt), b(spec, opt);
      built->run(a.args(), RunOptions{1});
      loaded->run(b.args(), RunOptions{1});
      EXPECT_EQ(a.o(), b.o()) << text << " Sq " << sq;
      const Comparison c = compare_with_reference(b, b.o(), spec.return_lse ? &b.lse() : nullptr);
      EXPECT_LE(c.rel_err, default_tolerance(spec.dtype)) << c.summary();
    }
  }
}

TEST(X86Image, DamagedImagesAreRefused) {
  const Backend& x86 = x86_backend();
  if (!x86.unavailable_reason().empty()) GTEST_SKIP() << x86.unavailable_reason();
  const Spec spec = parse_spec(kSpecs[0]);
  const std::vector<uint8_t> image = x86.compile(spec)->serialize();
  std::vector<uint8_t> truncated(image.begin(), image.end() - 7), bad_magic = image, longer = image,
                       other_plan = image;
  bad_magic[0] ^= 0xff;
  longer.push_back(0);
  other_plan[22] ^= 1;  // the first byte of the plan the code was generated for (after magic, version, slots, size)
  EXPECT_EQ(x86.deserialize(spec, other_plan), nullptr);
  EXPECT_EQ(x86.deserialize(spec, truncated), nullptr);
  EXPECT_EQ(x86.deserialize(spec, bad_magic), nullptr);
  EXPECT_EQ(x86.deserialize(spec, longer), nullptr);
  EXPECT_EQ(x86.deserialize(spec, {}), nullptr);
}

}  // namespace
}  // namespace attngen
