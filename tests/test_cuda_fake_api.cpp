// attngen_kernel_run_cuda through the C ABI, as an engine holding device
// pointers calls it, on the fake CUDA driver and NVRTC (tests/fake_cuda),
// linked against libattngen alone. Checked against what the fake recorded:
// the launch and its AttnParams block follow the spec and the arguments;
// pointers the driver does not know, wrong shapes and driver failures are
// error statuses with messages. The fake kernel computes nothing: no result
// is looked at.
#include <gtest/gtest.h>

#include <attngen/attngen.h>

#include <cstddef>
#include <string>
#include <vector>

#include "tests/fake_cuda/fake_cuda_hooks.hpp"

namespace {

using attngen::testing::fake_counters;
using attngen::testing::fake_last_launch;
using attngen::testing::ScopedEnv;
using Device = attngen::testing::FakeDevice;

// bshd layout, padding with both lengths, ALiBi over [B, Hq], an additive f32 mask.
const char* kSpec = R"({"dtype": "f16", "head_dim": 32, "num_heads": 4, "num_kv_heads": 2, "layout": "bshd",
    "mask": [{"type": "padding"}, {"type": "custom", "format": "additive"}], "score_mod": [{"type": "alibi"}],
    "return_lse": true})";
constexpr int64_t B = 2, Sq = 5, Skv = 7, H = 4, Hkv = 2, D = 32;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

attngen_tensor tensor(const void* data, attngen_dtype dtype, std::vector<int64_t> shape) {
  return attngen_tensor_contiguous(data, dtype, int32_t(shape.size()), shape.data());
}

class FakeDriverApi : public ::testing::Test {
 protected:
  void SetUp() override {
    attngen_compile_options o;
    attngen_compile_options_init(&o);
    o.backend = "cuda";  // device 0's arch: the fake sm_90 device
    ASSERT_EQ(attngen_kernel_compile(kSpec, &o, &kernel_), ATTNGEN_OK) << attngen_last_error();
  }
  void TearDown() override { attngen_kernel_release(kernel_); }

  // Every tensor on the device.
  attngen_args device_args(Device& dev) {
    attngen_args a{};
    a.q = tensor(dev.alloc(B * Sq * H * D * 2), ATTNGEN_F16, {B, Sq, H, D});
    a.k = tensor(dev.alloc(B * Skv * Hkv * D * 2), ATTNGEN_F16, {B, Skv, Hkv, D});
    a.v = tensor(dev.alloc(B * Skv * Hkv * D * 2), ATTNGEN_F16, {B, Skv, Hkv, D});
    a.o = tensor(dev.alloc(B * Sq * H * D * 2), ATTNGEN_F16, {B, Sq, H, D});
    a.lse = tensor(dev.alloc(B * H * Sq * 4), ATTNGEN_F32, {B, H, Sq});
    a.q_lens = tensor(dev.alloc(B * 4), ATTNGEN_I32, {B});
    a.kv_lens = tensor(dev.alloc(B * 4), ATTNGEN_I32, {B});
    a.mask = tensor(dev.alloc(Sq * Skv * 4), ATTNGEN_F32, {Sq, Skv});
    a.alibi_slopes = tensor(dev.alloc(B * H * 4), ATTNGEN_F32, {B, H});
    return a;
  }

  attngen_kernel* kernel_ = nullptr;
};

TEST_F(FakeDriverApi, TheLaunchFollowsTheSpecAndTheArguments) {
  attngen_kernel_info info;
  ASSERT_EQ(attngen_kernel_get_info(kernel_, &info), ATTNGEN_OK);
  EXPECT_STREQ(info.backend, "cuda");
  EXPECT_STREQ(info.isa, "sm_90a");
  Device dev;
  const attngen_args a = device_args(dev);
  void* stream = reinterpret_cast<void*>(0x5157);
  ASSERT_EQ(attngen_kernel_run_cuda(kernel_, &a, stream), ATTNGEN_OK) << attngen_last_error();
  const FakeCudaLaunch l = fake_last_launch();
  EXPECT_EQ(l.stream, stream);
  EXPECT_STREQ(l.arch, "sm_90a");
  EXPECT_EQ(l.grid[1], unsigned(Hkv));  // GQA-packed: a block serves the 2 query heads of a KV head
  EXPECT_EQ(l.grid[2], unsigned(B));
  EXPECT_EQ(l.grid[0], 1u);  // Sq = 5 rows x 2 heads: one block of rows
  EXPECT_GT(l.block[0], 0u);
  EXPECT_GT(l.shared_bytes, 0u);
  const AttnParams& p = l.params;
  EXPECT_EQ(p.q, a.q.data);
  EXPECT_EQ(p.k, a.k.data);
  EXPECT_EQ(p.v, a.v.data);
  EXPECT_EQ(p.o, a.o.data);
  EXPECT_EQ(p.lse, a.lse.data);
  EXPECT_EQ(p.q_lens, a.q_lens.data);
  EXPECT_EQ(p.kv_lens, a.kv_lens.data);
  EXPECT_EQ(p.mask, a.mask.data);
  EXPECT_EQ(p.alibi, a.alibi_slopes.data);
  EXPECT_EQ(p.q_doc, nullptr);
  EXPECT_EQ(p.prefix_lens, nullptr);
  EXPECT_EQ(p.batch, B);
  EXPECT_EQ(p.sq, Sq);
  EXPECT_EQ(p.skv, Skv);
  // bshd storage as logical [B, H, S, D] strides.
  const int64_t q_str[4] = {Sq * H * D, D, H * D, 1}, k_str[4] = {Skv * Hkv * D, D, Hkv * D, 1};
  for (int d = 0; d < 4; ++d) {
    EXPECT_EQ(p.q_str[d], q_str[d]) << d;
    EXPECT_EQ(p.o_str[d], q_str[d]) << d;
    EXPECT_EQ(p.k_str[d], k_str[d]) << d;
  }
  // The [Sq, Skv] mask broadcast over B and Hq; ALiBi [B, Hq]; lse [B, Hq, Sq].
  const int64_t mask_str[4] = {0, 0, Skv, 1};
  for (int d = 0; d < 4; ++d) EXPECT_EQ(p.mask_str[d], mask_str[d]) << d;
  EXPECT_EQ(p.mask_type, AG_MASK_F32);
  EXPECT_EQ(p.alibi_str[0], H);
  EXPECT_EQ(p.alibi_str[1], 1);
  EXPECT_EQ(p.lse_str[0], H * Sq);
  EXPECT_EQ(p.q_lens_str, 1);
  EXPECT_EQ(p.kv_lens_str, 1);
}

// ATTNGEN_CUDA_TILE is read at each compile and is part of the key: one
// process compiles a spec with several schedules (bench/cuda/sdpa_peers.py
// times them side by side), each its own kernel, not the first one's again.
TEST_F(FakeDriverApi, EachScheduleOfOneProcessIsItsOwnKernel) {
  attngen_compile_options o;
  attngen_compile_options_init(&o);
  o.backend = "cuda";
  std::vector<std::string> keys;
  // Threads and shared memory of each (f16, D 32 padded to 32, rows 40 apart):
  // 8 warps of Q 128 x 40 and K, V 64 x 40; 4 warps of Q 64 x 40 and K, V 64 x
  // 40; 4 key-split warps of Q 16 x 40 and K, V 4 x 32 x 40.
  const std::pair<unsigned, unsigned> launch[] = {{256, 2 * (128 * 40 + 64 * 80)}, {128, 2 * (64 * 40 + 64 * 80)},
                                                  {128, 2 * (16 * 40 + 4 * 32 * 80)}, {256, 2 * (128 * 40 + 64 * 80)}};
  int n = 0;
  for (const char* tile : {"", "64x64", "16x32k4", ""}) {
    ScopedEnv env("ATTNGEN_CUDA_TILE", tile);
    attngen_kernel* k = nullptr;
    ASSERT_EQ(attngen_kernel_compile(kSpec, &o, &k), ATTNGEN_OK) << attngen_last_error();
    attngen_kernel_info info;
    ASSERT_EQ(attngen_kernel_get_info(k, &info), ATTNGEN_OK);
    keys.push_back(info.key);
    Device dev;
    const attngen_args a = device_args(dev);
    ASSERT_EQ(attngen_kernel_run_cuda(k, &a, nullptr), ATTNGEN_OK) << attngen_last_error();
    EXPECT_EQ(fake_last_launch().block[0], launch[n].first) << tile;
    EXPECT_EQ(fake_last_launch().shared_bytes, launch[n++].second) << tile;
    attngen_kernel_release(k);
  }
  EXPECT_NE(keys[0], keys[1]);
  EXPECT_NE(keys[0], keys[2]);
  EXPECT_NE(keys[1], keys[2]);
  EXPECT_EQ(keys[0], keys[3]);
  EXPECT_EQ(keys[0], [this] {
    attngen_kernel_info info;
    attngen_kernel_get_info(kernel_, &info);
    return std::string(info.key);
  }());
}

// The compile option cuda_tile picks the schedule of one kernel, whatever
// ATTNGEN_CUDA_TILE says: an engine compiles a decoding kernel beside the
// default one of the same spec.
TEST_F(FakeDriverApi, TheCompileOptionPicksTheScheduleOfOneKernel) {
  ScopedEnv env("ATTNGEN_CUDA_TILE", "64x64");
  attngen_compile_options o;
  attngen_compile_options_init(&o);
  o.backend = "cuda";
  o.cuda_tile = "16x32k4";
  attngen_kernel* decode = nullptr;
  ASSERT_EQ(attngen_kernel_compile(kSpec, &o, &decode), ATTNGEN_OK) << attngen_last_error();
  Device dev;
  const attngen_args a = device_args(dev);
  ASSERT_EQ(attngen_kernel_run_cuda(decode, &a, nullptr), ATTNGEN_OK) << attngen_last_error();
  EXPECT_EQ(fake_last_launch().block[0], 128u);
  EXPECT_EQ(fake_last_launch().shared_bytes, 2u * (16 * 40 + 4 * 32 * 80));
  attngen_kernel_info info;
  ASSERT_EQ(attngen_kernel_get_info(decode, &info), ATTNGEN_OK);
  const std::string decode_key = info.key;
  attngen_kernel_release(decode);
  // With an explicit arch too; without the option, the environment's schedule.
  o.cuda_arch = "sm_90a";
  ASSERT_EQ(attngen_kernel_compile(kSpec, &o, &decode), ATTNGEN_OK) << attngen_last_error();
  ASSERT_EQ(attngen_kernel_get_info(decode, &info), ATTNGEN_OK);
  EXPECT_EQ(info.key, decode_key);  // device 0 is an sm_90 device: the same target
  attngen_kernel_release(decode);
  o.cuda_tile = nullptr;
  attngen_kernel* k = nullptr;
  ASSERT_EQ(attngen_kernel_compile(kSpec, &o, &k), ATTNGEN_OK) << attngen_last_error();
  ASSERT_EQ(attngen_kernel_run_cuda(k, &a, nullptr), ATTNGEN_OK) << attngen_last_error();
  EXPECT_EQ(fake_last_launch().shared_bytes, 2u * (64 * 40 + 64 * 80));  // 64x64
  attngen_kernel_release(k);
  // A schedule it does not know, of another backend, or an arch spelt with a schedule.
  o.cuda_tile = "16x16k4";
  EXPECT_EQ(attngen_kernel_compile(kSpec, &o, &k), ATTNGEN_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(attngen_last_error(), "options.cuda_tile: expected 64x32, 64x64, 128x32 or 128x64"))
      << attngen_last_error();
  EXPECT_TRUE(contains(attngen_last_error(), "got '16x16k4'")) << attngen_last_error();
  o.cuda_tile = "16x32k4";
  o.backend = "x86";
  o.cuda_arch = nullptr;
  EXPECT_EQ(attngen_kernel_compile(kSpec, &o, &k), ATTNGEN_ERR_INVALID_ARGUMENT);
  EXPECT_STREQ(attngen_last_error(), "options.cuda_tile: a schedule of backend cuda, got backend 'x86'");
  o.backend = "cuda";
  o.cuda_arch = "sm_90a/16x32k4";
  EXPECT_EQ(attngen_kernel_compile(kSpec, &o, &k), ATTNGEN_ERR_INVALID_ARGUMENT);
  EXPECT_STREQ(attngen_last_error(), "options.cuda_arch: expected an arch such as sm_90a, got 'sm_90a/16x32k4'");
  // A caller built before the field: struct_size ends before it, so it is not read.
  o.cuda_arch = nullptr;
  o.struct_size = offsetof(attngen_compile_options, cuda_tile);
  ASSERT_EQ(attngen_kernel_compile(kSpec, &o, &k), ATTNGEN_OK) << attngen_last_error();
  ASSERT_EQ(attngen_kernel_run_cuda(k, &a, nullptr), ATTNGEN_OK) << attngen_last_error();
  EXPECT_EQ(fake_last_launch().shared_bytes, 2u * (64 * 40 + 64 * 80));
  attngen_kernel_release(k);
}

TEST_F(FakeDriverApi, TheModuleIsLoadedOnceForManyRunsAndCompiles) {
  Device dev;
  const attngen_args a = device_args(dev);
  const FakeCudaCounters before = fake_counters();
  attngen_compile_options o;
  attngen_compile_options_init(&o);
  o.backend = "cuda";
  attngen_kernel* again = nullptr;
  ASSERT_EQ(attngen_kernel_compile(kSpec, &o, &again), ATTNGEN_OK);  // the same kernel, from the cache
  for (attngen_kernel* k : {kernel_, again, kernel_}) ASSERT_EQ(attngen_kernel_run_cuda(k, &a, nullptr), ATTNGEN_OK);
  attngen_kernel_release(again);
  const FakeCudaCounters after = fake_counters();
  EXPECT_EQ(after.launches - before.launches, 3);
  EXPECT_LE(after.module_loads - before.module_loads, 2);  // 0 if an earlier test of this process loaded them
  EXPECT_GE(after.module_loads, 2);
}

TEST_F(FakeDriverApi, PointersTheDriverDoesNotKnowAreInvalidArguments) {
  Device dev;
  attngen_args a = device_args(dev);
  std::vector<int32_t> host_lens = {5, 7};
  a.kv_lens.data = host_lens.data();
  const long launches = fake_counters().launches;
  ASSERT_EQ(attngen_kernel_run_cuda(kernel_, &a, nullptr), ATTNGEN_ERR_INVALID_ARGUMENT);
  const std::string e = attngen_last_error();
  EXPECT_TRUE(contains(e, "kv_lens: 0x")) << e;
  EXPECT_TRUE(contains(e, " is not memory the CUDA driver knows (CUDA_ERROR_INVALID_VALUE (invalid argument)); cuda "
                          "kernels take device pointers"))
      << e;
  EXPECT_EQ(fake_counters().launches, launches);
}

TEST_F(FakeDriverApi, WrongShapesAndHostEntryPointsAreRefusedBeforeTheDriver) {
  Device dev;
  attngen_args a = device_args(dev);
  a.k.shape[3] = 16;
  ASSERT_EQ(attngen_kernel_run_cuda(kernel_, &a, nullptr), ATTNGEN_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(attngen_last_error(), "k: dimension 3 (head_dim) must be 32, got 16")) << attngen_last_error();
  a = device_args(dev);
  a.alibi_slopes = attngen_tensor{};
  ASSERT_EQ(attngen_kernel_run_cuda(kernel_, &a, nullptr), ATTNGEN_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(attngen_last_error(), "alibi_slopes")) << attngen_last_error();
  a = device_args(dev);
  ASSERT_EQ(attngen_kernel_run(kernel_, &a, 0), ATTNGEN_ERR_INVALID_ARGUMENT);
  attngen_call* call = nullptr;
  ASSERT_EQ(attngen_kernel_prepare(kernel_, &a, 2, &call), ATTNGEN_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(call, nullptr);
}

TEST_F(FakeDriverApi, ALaunchFailureIsAnErrorStatusNotACrash) {
  Device dev;
  const attngen_args a = device_args(dev);
  ScopedEnv fail("FAKE_CUDA_FAIL", "cuLaunchKernel:701");
  ASSERT_NE(attngen_kernel_run_cuda(kernel_, &a, nullptr), ATTNGEN_OK);
  EXPECT_TRUE(contains(attngen_last_error(),
                       ": CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES (too many resources requested for launch)"))
      << attngen_last_error();
}

}  // namespace
