// The cuda backend without a GPU: the NVRTC wrapper (a failed compile carries
// its log), ptxas report parsing, cubin images for the disk cache, backend
// selection (auto never picks cuda; explicit arches compile with NVRTC
// alone), the launch argument filled from checked views, device arguments
// bound without reading their contents, and host/device memory mismatches.
// Tests that need NVRTC skip, saying so, where it is not installed; those
// that need a GPU run only where the driver sees one.
#include <gtest/gtest.h>

#include "tests/error_of.hpp"

#include <functional>
#include <string>
#include <vector>

#include "attngen_cuda_templates.hpp"
#include "codegen/spec/spec.hpp"
#include "runtime/core/backend.hpp"
#include "runtime/core/error.hpp"
#include "runtime/core/attn_params.hpp"
#include "runtime/cuda/cuda_backend.hpp"
#include "runtime/cuda/cuda_kernel.hpp"
#include "runtime/cuda/driver_library.hpp"
#include "runtime/cuda/nvrtc_compiler.hpp"
#include "runtime/cuda/nvrtc_library.hpp"
#include "runtime/cuda/ptxas_report.hpp"

namespace attngen {
namespace {

#define REQUIRE_NVRTC()                                                              \
  do {                                                                               \
    std::string why;                                                                 \
    if (!cuda::nvrtc_library(&why)) GTEST_SKIP() << "NVRTC is not installed: " << why; \
  } while (0)

using testing::error_of;

const char* kSmallSpec = R"({"dtype": "bf16", "head_dim": 64, "num_heads": 4, "num_kv_heads": 2,
    "mask": [{"type": "padding"}, {"type": "causal", "align": "bottom_right"}], "return_lse": true})";

TEST(CudaNvrtc, BrokenSourceIsAnErrorHoldingTheLog) {
  REQUIRE_NVRTC();
  const std::string source = "extern \"C\" __global__ void broken(float* x) { x[0] = undeclared_name; }\n";
  const std::string e = error_of([&] { cuda::nvrtc_compile(source, "broken.cu", {}, "sm_80", "a test kernel"); });
  EXPECT_NE(e.find("failed to compile a test kernel (broken.cu"), std::string::npos) << e;
  EXPECT_NE(e.find("NVRTC_ERROR_COMPILATION"), std::string::npos) << e;
  // The log line itself: file, line, what is wrong.
  EXPECT_NE(e.find("broken.cu(1): error: identifier \"undeclared_name\" is undefined"), std::string::npos) << e;
}

TEST(CudaNvrtc, UnknownOptionIsAnErrorNotACrash) {
  REQUIRE_NVRTC();
  const std::string e = error_of(
      [&] { cuda::nvrtc_compile("__global__ void k() {}", "k.cu", {"--no-such-option"}, "sm_80", "a test kernel"); });
  EXPECT_NE(e.find("--no-such-option"), std::string::npos) << e;
}

TEST(CudaNvrtc, CubinAndPtxasReportOfAGoodKernel) {
  REQUIRE_NVRTC();
  const std::string source =
      "extern \"C\" __global__ void twice(float* x) { __shared__ float s[64]; s[threadIdx.x] = x[threadIdx.x];"
      " __syncthreads(); x[threadIdx.x] = 2.f * s[63 - threadIdx.x]; }\n";
  const cuda::NvrtcOutput out = cuda::nvrtc_compile(source, "twice.cu", {"--ptxas-options=-v"}, "sm_90a", "twice");
  EXPECT_GT(out.cubin.size(), 100u);
  EXPECT_NE(out.ptx.find(".entry twice"), std::string::npos);
  const cuda::PtxasReport r = cuda::parse_ptxas_report(out.log, "twice");
  ASSERT_TRUE(r.found) << out.log;
  EXPECT_GT(r.registers, 0);
  EXPECT_EQ(r.static_smem, 256);
  EXPECT_EQ(r.spill_stores, 0);
}

TEST(CudaPtxas, ReportOfOneEntryAmongSeveral) {
  const std::string log =
      "ptxas info    : 0 bytes gmem\n"
      "ptxas info    : Compiling entry function 'other' for 'sm_80'\n"
      "ptxas info    : Function properties for other\n"
      "ptxas         .     8 bytes stack frame, 4 bytes spill stores, 4 bytes spill loads\n"
      "ptxas info    : Used 255 registers, used 1 barriers, 16 bytes smem, 380 bytes cmem[0]\n"
      "ptxas info    : Compiling entry function 'attn' for 'sm_80'\n"
      "ptxas info    : Function properties for attn\n"
      "ptxas         .     0 bytes stack frame, 24 bytes spill stores, 16 bytes spill loads\n"
      "ptxas info    : Used 168 registers, used 1 barriers, 1024 bytes smem, 380 bytes cmem[0]\n";
  const cuda::PtxasReport r = cuda::parse_ptxas_report(log, "attn");
  ASSERT_TRUE(r.found);
  EXPECT_EQ(r.registers, 168);
  EXPECT_EQ(r.spill_stores, 24);
  EXPECT_EQ(r.spill_loads, 16);
  EXPECT_EQ(r.static_smem, 1024);
  EXPECT_EQ(r.describe(), "registers 168, spill stores 24 B, spill loads 16 B, stack 0 B, static smem 1024 B");
  EXPECT_FALSE(r.wgmma_serialized);
  EXPECT_FALSE(cuda::parse_ptxas_report(log, "missing").found);
  // ptxas's notice that it serialized an entry's wgmma comes before its header and names it.
  const std::string serialized =
      "ptxas info    : (C7514) Potential Performance Loss: wgmma.mma_async instructions are serialized due to non "
      "wgmma instructions reading accumulator registers of  a wgmma between start and end of the pipeline stage in "
      "the function 'attn'\n" +
      log;
  EXPECT_TRUE(cuda::parse_ptxas_report(serialized, "attn").wgmma_serialized);
  EXPECT_FALSE(cuda::parse_ptxas_report(serialized, "other").wgmma_serialized);
  EXPECT_TRUE(cuda::parse_ptxas_report(serialized, "attn").describe().find(", wgmma serialized") != std::string::npos);
}

TEST(CudaImage, RoundTripsAndRefusesOtherTemplatesAndTruncation) {
  cuda::CubinImage m{"sm_90a", "entry", {256, 128, 64, 69632}, "desc", "ptxas info    : Used 1 registers", {1, 2, 3, 4},
                     {5, 6}};
  const std::vector<uint8_t> bytes = cuda::encode_cubin_image(m);
  const cuda::CubinImage back = cuda::decode_cubin_image(bytes);
  EXPECT_EQ(back.arch, "sm_90a");
  EXPECT_EQ(back.entry, "entry");
  EXPECT_EQ(back.launch.threads, 256);
  EXPECT_EQ(back.launch.block_m, 128);
  EXPECT_EQ(back.launch.block_n, 64);
  EXPECT_EQ(back.launch.smem_bytes, 69632);
  EXPECT_EQ(back.cubin, m.cubin);
  EXPECT_EQ(back.split_cubin, m.split_cubin);
  std::vector<uint8_t> other = bytes;
  other[8 + 4] ^= 1;  // first byte of the templates hash
  EXPECT_NE(error_of([&] { cuda::decode_cubin_image(other); }).find("built from templates"), std::string::npos);
  for (size_t n : {size_t(0), size_t(5), bytes.size() / 2, bytes.size() - 1})
    EXPECT_NE(error_of([&] { cuda::decode_cubin_image(std::vector<uint8_t>(bytes.begin(), bytes.begin() + n)); }), "<no error>")
        << n;
}

TEST(CudaBackend, AutoNeverPicksCuda) {
  const Spec spec = parse_spec(kSmallSpec);
  EXPECT_NE(select_backend("auto", spec).name(), "cuda");
  EXPECT_EQ(select_backend("auto", spec).memory(), Memory::host);
  EXPECT_NE(error_of([&] { select_backend("auto", spec, "sm_80"); }).find("needs a named backend"), std::string::npos);
  EXPECT_NE(error_of([&] { select_backend("x86", spec, "sm_80"); }).find("is for the cuda backend"), std::string::npos);
  EXPECT_NE(error_of([&] { select_backend("cuda", spec, "sm_8"); }).find("sm_8"), std::string::npos);
}

TEST(CudaBackend, UnavailableSaysWhyAndHowToCompileAnyway) {
  std::string why;
  if (cuda::driver_library(&why) && cuda::device_count() > 0) GTEST_SKIP() << "this machine has a GPU";
  const std::string r = cuda_backend().unavailable_reason();
  if (!cuda::nvrtc_library()) {
    EXPECT_NE(r.find("no NVRTC library"), std::string::npos) << r;
    return;
  }
  EXPECT_TRUE(r.find("no CUDA driver") != std::string::npos || r.find("no CUDA device") != std::string::npos ||
              r.find("cuInit failed") != std::string::npos)
      << r;
  EXPECT_NE(r.find("--arch"), std::string::npos) << r;
  EXPECT_EQ(cuda_backend().isa(), "");
  const std::string e = error_of([] { select_backend("cuda", parse_spec(kSmallSpec)); });
  EXPECT_NE(e.find("backend cuda: unavailable on this machine: "), std::string::npos) << e;
}

TEST(CudaBackend, ExplicitArchCompilesWithoutAGpuAndRefusesHostTensors) {
  REQUIRE_NVRTC();
  const Spec spec = parse_spec(kSmallSpec);
  const Backend& b = select_backend("cuda", spec, "sm_80");
  EXPECT_EQ(b.unavailable_reason(), "");
  EXPECT_EQ(b.isa(), std::string("sm_80/nvrtc-") + cuda::nvrtc_library()->version() + "/tpl-" +
                         std::string(cuda::kTemplatesHash).substr(0, 8));
  EXPECT_EQ(&b, &select_backend("cuda", spec, "80"));  // one backend per arch
  const std::unique_ptr<Kernel> k = b.compile(spec);
  EXPECT_EQ(k->isa(), "sm_80");
  EXPECT_EQ(k->target(), b.isa());
  EXPECT_EQ(k->key(), cache_key(spec, "cuda", b.isa()));
  EXPECT_EQ(k->memory(), Memory::device);
  // The image reloads into the same kernel; another arch's backend refuses it.
  const std::vector<uint8_t> image = k->serialize();
  const std::unique_ptr<Kernel> back = b.deserialize(spec, image);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->key(), k->key());
  EXPECT_EQ(back->details(), k->details());
  EXPECT_FALSE(select_backend("cuda", spec, "sm_90a").deserialize(spec, image));
  // Host tensors given to a device kernel: named, before anything runs.
  AttentionArgs host;
  const std::string e = error_of([&] { k->run(host); });
  EXPECT_NE(e.find("backend cuda kernels read device memory, but the tensors were given in host memory"),
            std::string::npos)
      << e;
  EXPECT_NE(error_of([&] { k->prepare(host, 4); }).find("device memory"), std::string::npos);
}

// Fake device addresses: binding must never dereference them.
const void* fake(uintptr_t a) { return reinterpret_cast<const void*>(a); }

TEST(CudaParams, DeviceArgumentsAreBoundWithoutReadingThemAndFillTheLaunchArgument) {
  const Spec spec = parse_spec(R"({"dtype": "f16", "head_dim": 32, "num_heads": 4, "num_kv_heads": 2,
      "layout": "bshd", "mask": [{"type": "padding"}, {"type": "custom", "format": "additive"}],
      "score_mod": [{"type": "alibi"}], "return_lse": true})");
  const int64_t B = 2, Sq = 5, Skv = 7, H = 4, Hkv = 2, D = 32;
  AttentionArgs a;
  a.memory = Memory::device;
  a.q = contiguous_view(fake(0x1000), ElemType::f16, {B, Sq, H, D});
  a.k = contiguous_view(fake(0x2000), ElemType::f16, {B, Skv, Hkv, D});
  a.v = contiguous_view(fake(0x3000), ElemType::f16, {B, Skv, Hkv, D});
  a.o = contiguous_view(fake(0x4000), ElemType::f16, {B, Sq, H, D});
  a.lse = contiguous_view(fake(0x5000), ElemType::f32, {B, H, Sq});
  a.kv_lens = contiguous_view(fake(0x6000), ElemType::i32, {B});  // values never read on the host
  a.mask = contiguous_view(fake(0x7000), ElemType::f16, {Sq, Skv});
  a.alibi_slopes = contiguous_view(fake(0x8000), ElemType::f32, {H});
  const BoundArgs bound = bind_args(spec, a);
  const AttnParams p = make_attn_params(spec, bound);
  EXPECT_EQ(p.q, fake(0x1000));
  EXPECT_EQ(p.kv_lens, fake(0x6000));
  EXPECT_EQ(p.q_lens, nullptr);
  EXPECT_EQ(p.batch, B);
  EXPECT_EQ(p.sq, Sq);
  EXPECT_EQ(p.skv, Skv);
  // bshd storage seen as [B, H, S, D].
  EXPECT_EQ(p.q_str[0], Sq * H * D);
  EXPECT_EQ(p.q_str[1], D);
  EXPECT_EQ(p.q_str[2], H * D);
  EXPECT_EQ(p.q_str[3], 1);
  EXPECT_EQ(p.k_str[1], D);
  EXPECT_EQ(p.k_str[2], Hkv * D);
  EXPECT_EQ(p.lse_str[0], H * Sq);
  EXPECT_EQ(p.lse_str[2], 1);
  // The [Sq, Skv] mask broadcast over B and Hq; ALiBi [Hq] over B.
  EXPECT_EQ(p.mask_str[0], 0);
  EXPECT_EQ(p.mask_str[1], 0);
  EXPECT_EQ(p.mask_str[2], Skv);
  EXPECT_EQ(p.mask_str[3], 1);
  EXPECT_EQ(p.mask_type, AG_MASK_F16);
  EXPECT_EQ(p.alibi_str[0], 0);
  EXPECT_EQ(p.alibi_str[1], 1);
  EXPECT_EQ(p.kv_lens_str, 1);
  // Host memory with the same fake pointers would be read (and crash); the
  // shapes are still checked on device memory.
  a.k.shape[3] = 16;
  EXPECT_NE(error_of([&] { bind_args(spec, a); }).find("k: dimension 3 (head_dim) must be 32, got 16"),
            std::string::npos);
}

TEST(CudaParams, MaskTypeFollowsTheMaskDtype) {
  // The mask_type of a call with fake device tensors of `dtype` and a custom
  // mask stored as `mask_type` in `mask_shape`.
  auto mask_type_of = [](const char* dtype, const char* format, ElemType mask_type,
                         const std::vector<int64_t>& mask_shape) {
    const Spec spec = parse_spec(std::string(R"({"dtype": ")") + dtype +
                                 R"(", "head_dim": 32, "num_heads": 2, "mask": [{"type": "custom", "format": ")" +
                                 format + R"("}]})");
    AttentionArgs a;
    a.memory = Memory::device;
    a.q = contiguous_view(fake(0x1000), spec.dtype, {1, 2, 3, 32});
    a.k = a.v = contiguous_view(fake(0x2000), spec.dtype, {1, 2, 4, 32});
    a.o = contiguous_view(fake(0x3000), spec.dtype, {1, 2, 3, 32});
    a.mask = contiguous_view(fake(0x4000), mask_type, mask_shape);
    return make_attn_params(spec, bind_args(spec, a)).mask_type;
  };
  EXPECT_EQ(mask_type_of("f16", "bool", ElemType::b8, {1, 2, 3, 4}), AG_MASK_BYTES);
  EXPECT_EQ(mask_type_of("f16", "bool", ElemType::u8, {1, 2, 3, 4}), AG_MASK_BYTES);
  EXPECT_EQ(mask_type_of("f16", "additive", ElemType::f32, {3, 4}), AG_MASK_F32);
  EXPECT_EQ(mask_type_of("f16", "additive", ElemType::f16, {3, 4}), AG_MASK_F16);
  EXPECT_EQ(mask_type_of("bf16", "additive", ElemType::bf16, {3, 4}), AG_MASK_BF16);
}

TEST(CudaMemory, DeviceTensorsGivenToACpuKernelAreAnError) {
  const Spec spec = parse_spec(kSmallSpec);
  const std::unique_ptr<Kernel> k = select_backend("reference", spec).compile(spec);
  AttentionArgs a;
  a.memory = Memory::device;
  const std::string e = error_of([&] { k->run(a); });
  EXPECT_NE(e.find("backend reference kernels read host memory, but the tensors were given in device memory"),
            std::string::npos)
      << e;
}

}  // namespace
}  // namespace attngen
