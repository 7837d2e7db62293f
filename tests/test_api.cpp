// The public API (attngen.h / attngen.hpp) as a host engine sees it, linked
// against libattngen only: results against the reference backend, strided
// views against contiguous copies, work items on a host pool, concurrent
// compiles and runs, and misuse of compile and run (nulls, wrong dtypes and
// shapes, missing tensors) returning error statuses with messages. Handles
// and statuses: test_api_handles.cpp.
#include <gtest/gtest.h>

#include <attngen/attngen.hpp>

#include <atomic>
#include <cstddef>
#include <cstring>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/api_problem.hpp"

namespace {

using namespace attngen::api_test;

// Every compile line of this process (counted in CompileOnceFromSixteenThreads).
const bool verbose_on = (setenv("ATTNGEN_VERBOSE", "1", 1), true);

TEST(Api, CompileQueryRunMatchesTheReference) {
  ag::Kernel k = ag::Kernel::compile(kPaddedSpec);
  EXPECT_EQ(k.key().size(), 16u);
  EXPECT_TRUE(k.writes_lse());
  EXPECT_EQ(k.info().num_heads, 4);
  EXPECT_EQ(k.info().num_kv_heads, 2);
  EXPECT_EQ(k.info().dtype, ATTNGEN_F32);
  EXPECT_NE(k.spec().find("\"return_lse\":true"), std::string::npos);
  Problem p, r;
  k.run(p.args());
  ag::Kernel ref = ag::Kernel::compile(kPaddedSpec, "reference");
  EXPECT_EQ(ref.backend(), "reference");
  ref.run(r.args());
  EXPECT_LT(rel_err(p.o, r.o), 2e-5);
  EXPECT_NEAR(p.lse[5], r.lse[5], 1e-3);
  EXPECT_EQ(ag::version(), attngen_version());
}

TEST(Api, StridedViewsGiveTheSameResultAsContiguousCopies) {
  // bshd: Q, K, V sliced out of one fused QKV buffer [B, S, Hq + 2 Hkv, D];
  // then K, V read from a KV cache [B, Hkv, capacity, D] with capacity > S.
  const char* spec = R"({"dtype": "f32", "head_dim": 16, "num_heads": 6, "num_kv_heads": 2, "layout": "bshd",
      "mask": [{"type": "causal", "align": "bottom_right"}]})";
  const int64_t B = 2, S = 37, H = 6, Hkv = 2, D = 16, W = H + 2 * Hkv, cap = 100;
  const std::vector<float> qkv = randn(B * S * W * D, 7);
  std::vector<float> q(B * S * H * D), k(B * S * Hkv * D), v(B * S * Hkv * D), kc(B * Hkv * cap * D, NAN),
      vc(B * Hkv * cap * D, NAN);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < S; ++s)
      for (int64_t c = 0; c < W; ++c)
        for (int64_t d = 0; d < D; ++d) {
          const float x = qkv[size_t(((b * S + s) * W + c) * D + d)];
          if (c < H) q[size_t(((b * S + s) * H + c) * D + d)] = x;
          const int64_t h = (c - H) % Hkv;
          auto& dense = c < H + Hkv ? k : v;
          auto& cache = c < H + Hkv ? kc : vc;
          if (c >= H) {
            dense[size_t(((b * S + s) * Hkv + h) * D + d)] = x;
            cache[size_t(((b * Hkv + h) * cap + s) * D + d)] = x;
          }
        }
  for (const char* backend : {"auto", "reference"}) {
    ag::Kernel kernel = ag::Kernel::compile(spec, backend);
    std::vector<float> o_dense(B * S * H * D), o_fused(o_dense.size(), NAN), o_cache(o_dense.size(), NAN);
    attngen_args a{};
    a.q = ag::tensor(q.data(), ATTNGEN_F32, {B, S, H, D});
    a.k = ag::tensor(k.data(), ATTNGEN_F32, {B, S, Hkv, D});
    a.v = ag::tensor(v.data(), ATTNGEN_F32, {B, S, Hkv, D});
    a.o = ag::tensor(o_dense.data(), ATTNGEN_F32, {B, S, H, D});
    kernel.run(a);

    a.q = ag::tensor(qkv.data(), ATTNGEN_F32, {B, S, H, D}, {S * W * D, W * D, D, 1});
    a.k = ag::tensor(qkv.data() + H * D, ATTNGEN_F32, {B, S, Hkv, D}, {S * W * D, W * D, D, 1});
    a.v = ag::tensor(qkv.data() + (H + Hkv) * D, ATTNGEN_F32, {B, S, Hkv, D}, {S * W * D, W * D, D, 1});
    a.o = ag::tensor(o_fused.data(), ATTNGEN_F32, {B, S, H, D});
    kernel.run(a);
    EXPECT_EQ(o_fused, o_dense) << backend;

    a.k = ag::tensor(kc.data(), ATTNGEN_F32, {B, S, Hkv, D}, {Hkv * cap * D, D, cap * D, 1});
    a.v = ag::tensor(vc.data(), ATTNGEN_F32, {B, S, Hkv, D}, {Hkv * cap * D, D, cap * D, 1});
    a.o = ag::tensor(o_cache.data(), ATTNGEN_F32, {B, S, H, D});
    kernel.run(a);
    EXPECT_EQ(o_cache, o_dense) << backend;
  }
}

TEST(Api, WorkItemsOnAHostPoolMatchARun) {
  ag::Kernel k = ag::Kernel::compile(kPaddedSpec);
  Problem whole, pooled;
  // The same number of parts splits the call the same way, so the results are
  // bit for bit equal (another split may differ in the last bits: split-KV).
  k.run(whole.args(), 5);
  ag::Call call = k.prepare(pooled.args(), 5);
  ASSERT_GE(call.items(), 1u);
  std::atomic<size_t> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < 3; ++t)
    pool.emplace_back([&] {
      for (size_t i; (i = next++) < call.items();) call.run_item(i);
    });
  for (auto& t : pool) t.join();
  EXPECT_EQ(pooled.o, whole.o);
  EXPECT_EQ(pooled.lse, whole.lse);
}

TEST(Api, CompileOnceFromSixteenThreadsAndRunConcurrently) {
  // A spec no other test uses: its key is new to this process.
  const std::string spec = R"({"dtype": "f32", "head_dim": 24, "num_heads": 4, "num_kv_heads": 2,
      "mask": [{"type": "padding"}, {"type": "causal", "align": "bottom_right"}], "return_lse": true})";
  std::vector<ag::Kernel> kernels(16);
  std::atomic<bool> go{false};
  ::testing::internal::CaptureStderr();
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t)
    threads.emplace_back([&, t] {
      while (!go) std::this_thread::yield();
      kernels[size_t(t)] = ag::Kernel::compile(spec);
    });
  go = true;
  for (auto& t : threads) t.join();
  const std::string log = ::testing::internal::GetCapturedStderr();
  // Built once: compiled, or loaded from the disk cache that an earlier run
  // of this test filled (x86 kernels serialise).
  size_t builds = 0;
  for (const std::string line : {"attngen: compile key=", "attngen: cache hit (disk) key="})
    for (size_t at = 0; (at = log.find(line + kernels[0].key(), at)) != std::string::npos; ++at) ++builds;
  EXPECT_EQ(builds, 1u) << log;
  for (const ag::Kernel& k : kernels) EXPECT_EQ(k.key(), kernels[0].key());

  // The kernel of kPaddedSpec shape, run from 8 threads at once.
  ag::Kernel k = ag::Kernel::compile(kPaddedSpec);
  Problem expected;
  k.run(expected.args(), 1);
  std::vector<Problem> problems(8);
  threads.clear();
  for (Problem& p : problems) threads.emplace_back([&] { k.run(p.args(), 1); });
  for (auto& t : threads) t.join();
  for (const Problem& p : problems) EXPECT_EQ(p.o, expected.o);
}

// Built with LLVM, backend "llvm" compiles; built without (the TSan job's
// build), it is a BACKEND error that says what to install.
TEST(Api, LlvmBackendCompilesOrSaysWhatToInstall) {
  attngen_compile_options o;
  attngen_compile_options_init(&o);
  o.backend = "llvm";
  attngen_kernel* k = nullptr;
  const attngen_status st = attngen_kernel_compile(kPaddedSpec, &o, &k);
  if (st == ATTNGEN_OK) {
    attngen_kernel_info info;
    ASSERT_EQ(attngen_kernel_get_info(k, &info), ATTNGEN_OK);
    EXPECT_STREQ(info.backend, "llvm");
    attngen_kernel_release(k);
  } else {
    EXPECT_EQ(st, ATTNGEN_ERR_BACKEND);
    EXPECT_NE(std::string(attngen_last_error()).find("backend llvm: unavailable on this machine: this attngen was built "
                                                     "without LLVM (install llvm-16-dev"),
              std::string::npos)
        << attngen_last_error();
  }
}

TEST(Api, CompileMisuseReturnsErrorStatuses) {
  attngen_kernel* k = reinterpret_cast<attngen_kernel*>(0x1);
  auto f = failure(attngen_kernel_compile(nullptr, nullptr, &k));
  EXPECT_EQ(f.status, ATTNGEN_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(has(f, "spec_json: null pointer")) << f.message;
  EXPECT_EQ(k, nullptr);
  f = failure(attngen_kernel_compile(kPaddedSpec, nullptr, nullptr));
  EXPECT_TRUE(has(f, "out: null pointer")) << f.message;

  f = failure(attngen_kernel_compile(R"({"dtype": "f64", "head_dim": 0})", nullptr, &k));
  EXPECT_EQ(f.status, ATTNGEN_ERR_INVALID_SPEC);
  EXPECT_TRUE(has(f, "dtype:") && has(f, "head_dim:") && has(f, "num_heads:")) << f.message;
  f = failure(attngen_kernel_compile("{", nullptr, &k));
  EXPECT_TRUE(has(f, "invalid JSON")) << f.message;

  attngen_compile_options o;
  attngen_compile_options_init(&o);
  o.backend = "tpu";
  f = failure(attngen_kernel_compile(kPaddedSpec, &o, &k));
  EXPECT_EQ(f.status, ATTNGEN_ERR_BACKEND);
  EXPECT_TRUE(has(f, "unknown backend 'tpu'")) << f.message;
  o.backend = nullptr;
  o.threads = -2;
  f = failure(attngen_kernel_compile(kPaddedSpec, &o, &k));
  EXPECT_TRUE(has(f, "options.threads: must be >= 0, got -2")) << f.message;
  attngen_compile_options zero{};
  f = failure(attngen_kernel_compile(kPaddedSpec, &zero, &k));
  EXPECT_TRUE(has(f, "options.struct_size")) << f.message;

  f = failure(attngen_kernel_compile_file("/no/such/spec.json", nullptr, &k));
  EXPECT_EQ(f.status, ATTNGEN_ERR_IO);
  EXPECT_TRUE(has(f, "/no/such/spec.json")) << f.message;
  EXPECT_EQ(k, nullptr);
}

// The device path of the C ABI without a GPU: an explicit cuda_arch compiles
// with NVRTC alone; host and device entry points refuse each other's kernels;
// callers built before cuda_arch existed (a shorter struct_size) still work.
TEST(Api, CudaArchCompilesWithoutAGpuAndEntryPointsMatchTheMemory) {
  attngen_compile_options o;
  attngen_compile_options_init(&o);
  o.backend = "cuda";
  o.cuda_arch = "sm_80";
  attngen_kernel* k = nullptr;
  auto f = failure(attngen_kernel_compile(kPaddedSpec, &o, &k));
  if (f.status == ATTNGEN_ERR_BACKEND && has(f, "no NVRTC library")) GTEST_SKIP() << f.message;
  ASSERT_EQ(f.status, ATTNGEN_OK) << f.message;
  attngen_kernel_info info;
  ASSERT_EQ(attngen_kernel_get_info(k, &info), ATTNGEN_OK);
  EXPECT_STREQ(info.backend, "cuda");
  EXPECT_STREQ(info.isa, "sm_80");
  Problem p;
  const attngen_args host = p.args();
  f = failure(attngen_kernel_run(k, &host, 0));
  EXPECT_EQ(f.status, ATTNGEN_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(has(f, "backend cuda kernels read device memory")) << f.message;
  EXPECT_TRUE(has(f, "attngen_kernel_run_cuda")) << f.message;
  attngen_kernel_release(k);

  o.cuda_arch = "sm_1";
  f = failure(attngen_kernel_compile(kPaddedSpec, &o, &k));
  EXPECT_TRUE(has(f, "sm_1")) << f.message;
  o.backend = nullptr;
  o.cuda_arch = "sm_80";
  f = failure(attngen_kernel_compile(kPaddedSpec, &o, &k));
  EXPECT_EQ(f.status, ATTNGEN_ERR_BACKEND);
  EXPECT_TRUE(has(f, "needs a named backend")) << f.message;

  // A caller compiled against the header before cuda_arch: the field is not read.
  o.backend = "reference";
  o.cuda_arch = "garbage";
  o.struct_size = offsetof(attngen_compile_options, cuda_arch);
  ASSERT_EQ(attngen_kernel_compile(kPaddedSpec, &o, &k), ATTNGEN_OK) << attngen_last_error();
  f = failure(attngen_kernel_run_cuda(k, &host, nullptr));
  EXPECT_EQ(f.status, ATTNGEN_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(has(f, "backend reference kernels read host memory, but the tensors were given in device memory"))
      << f.message;
  attngen_kernel_release(k);
}

// Hostile specs through the C ABI: a status and a message, never a crash of
// the host thread or an unbounded parse.
TEST(Api, HostileSpecsReturnStatusesNotCrashes) {
  attngen_kernel* k = nullptr;
  const std::string deep = std::string(2000, '[') + std::string(2000, ']');
  auto f = failure(attngen_kernel_compile(deep.c_str(), nullptr, &k));
  EXPECT_EQ(f.status, ATTNGEN_ERR_INVALID_SPEC);
  EXPECT_TRUE(has(f, "spec: lists and objects nested more than 64 levels deep")) << f.message;
  const std::string big = std::string(R"({"dtype": "f32", "head_dim": 8, "num_heads": 1})") + std::string(2 << 20, ' ');
  f = failure(attngen_kernel_compile(big.c_str(), nullptr, &k));
  EXPECT_EQ(f.status, ATTNGEN_ERR_INVALID_SPEC);
  EXPECT_TRUE(has(f, "more than the limit of 1048576 bytes (1 MiB)")) << f.message;
  f = failure(attngen_kernel_compile_file("/", nullptr, &k));
  EXPECT_EQ(f.status, ATTNGEN_ERR_IO);
  EXPECT_TRUE(has(f, "spec: cannot read '/': is a directory, not a file")) << f.message;
  EXPECT_EQ(k, nullptr);
}

TEST(Api, CompileFileAndCppExceptions) {
  ag::Kernel k = ag::Kernel::compile_file(std::string(ATTNGEN_SOURCE_DIR) + "/specs/examples/padding_causal.json");
  EXPECT_EQ(k.info().dtype, ATTNGEN_F16);
  try {
    ag::Kernel::compile(R"({"dtype": "f32"})");
    FAIL() << "no exception";
  } catch (const ag::Error& e) {
    EXPECT_EQ(e.status(), ATTNGEN_ERR_INVALID_SPEC);
    EXPECT_NE(std::string(e.what()).find("head_dim"), std::string::npos);
  }
  // Copies share the kernel: the copy stays valid after the original goes.
  ag::Kernel copy;
  {
    ag::Kernel original = ag::Kernel::compile(kPaddedSpec);
    copy = original;
  }
  Problem p;
  copy.run(p.args());
  EXPECT_FALSE(std::isnan(p.o[0]));
}

TEST(Api, RunMisuseNamesTheArgumentExpectedAndActual) {
  ag::Kernel kernel = ag::Kernel::compile(kPaddedSpec);
  attngen_kernel* k = kernel.handle();
  auto run = [&](const std::function<void(attngen_args&)>& edit) {
    Problem p;
    attngen_args a = p.args();
    edit(a);
    return failure(attngen_kernel_run(k, &a, 0));
  };
  EXPECT_EQ(run([](attngen_args&) {}).status, ATTNGEN_OK);
  Failure f = failure(attngen_kernel_run(k, nullptr, 0));
  EXPECT_EQ(f.status, ATTNGEN_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(has(f, "args: null pointer"));
  f = run([](attngen_args& a) { a.q.data = nullptr; });
  EXPECT_EQ(f.status, ATTNGEN_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(has(f, "q: null data pointer")) << f.message;
  f = run([](attngen_args& a) { a.k.dtype = ATTNGEN_F16; });
  EXPECT_TRUE(has(f, "k: expected dtype f32, got f16")) << f.message;
  f = run([](attngen_args& a) { a.v.shape[2] = 69; });
  EXPECT_TRUE(has(f, "v: dimension 2 (Skv) must be 70, got 69")) << f.message;
  f = run([](attngen_args& a) { a.o.rank = 3; });
  EXPECT_TRUE(has(f, "o: expected a rank-4 tensor")) << f.message;
  f = run([](attngen_args& a) { a.kv_lens = attngen_tensor{}; });
  EXPECT_TRUE(has(f, "kv_lens: required by the spec but not given")) << f.message;
  f = run([](attngen_args& a) { a.lse = attngen_tensor{}; });
  EXPECT_TRUE(has(f, "lse")) << f.message;
  static float slopes[4];
  f = run([](attngen_args& a) { a.alibi_slopes = ag::tensor(slopes, ATTNGEN_F32, {4}); });
  EXPECT_TRUE(has(f, "alibi_slopes: given, but the spec has no")) << f.message;
  f = run([](attngen_args& a) { a.q.dtype = attngen_dtype(42); });
  EXPECT_TRUE(has(f, "q: unknown dtype code 42")) << f.message;
  f = run([](attngen_args& a) { a.mask.rank = 9; a.mask.data = slopes; });
  EXPECT_TRUE(has(f, "mask: rank must be in [0, 4], got 9")) << f.message;
  static int32_t too_long[2] = {71, 3};
  f = run([](attngen_args& a) { a.kv_lens = ag::tensor(too_long, ATTNGEN_I32, {2}); });
  EXPECT_TRUE(has(f, "kv_lens[0]: must be in [0, 70]")) << f.message;
  f = failure(attngen_kernel_run(k, nullptr, -1));
  EXPECT_TRUE(has(f, "threads: must be >= 0")) << f.message;
}

// ATTNGEN_DISABLE_JIT=1 (set by the ctest tests jit_disabled.*, over a cache
// directory nothing is stored in): a kernel in no cache is JIT_DISABLED with
// the key and what to do; for the reference backend, whose kernels are never
// cached, that JIT must stay enabled.
TEST(ApiJitDisabled, UncachedKernelsAreJitDisabledErrors) {
  const char* env = std::getenv("ATTNGEN_DISABLE_JIT");
  if (!env || std::string(env) != "1") GTEST_SKIP() << "run by the ctest tests jit_disabled.* (ATTNGEN_DISABLE_JIT=1)";
  attngen_compile_options o;
  attngen_compile_options_init(&o);
  attngen_kernel* k = nullptr;
  o.backend = "x86";
  auto f = failure(attngen_kernel_compile(kPaddedSpec, &o, &k));
  if (f.status != ATTNGEN_ERR_BACKEND) {
    EXPECT_EQ(f.status, ATTNGEN_ERR_JIT_DISABLED) << f.message;
    EXPECT_TRUE(has(f, "ATTNGEN_DISABLE_JIT=1: kernel ") && has(f, " (backend x86, isa ") &&
                has(f, ") is in no cache (disk cache ") && has(f, "`attngen compile SPEC --backend x86`"))
        << f.message;
  }
  o.backend = "reference";
  f = failure(attngen_kernel_compile(kPaddedSpec, &o, &k));
  EXPECT_EQ(f.status, ATTNGEN_ERR_JIT_DISABLED) << f.message;
  EXPECT_TRUE(has(f, "backend reference kernels cannot be cached") && has(f, "JIT must stay enabled")) << f.message;
  EXPECT_EQ(k, nullptr);
}

// A bool custom mask given as u8 or bool bytes computes the same result.
TEST(Api, CustomMaskAsU8OrBool) {
  ag::Kernel k = ag::Kernel::compile(R"({"dtype": "f32", "head_dim": 8, "num_heads": 2,
      "mask": [{"type": "custom", "format": "bool"}]})");
  const int64_t B = 1, H = 2, S = 5, D = 8;
  const std::vector<float> q = randn(B * H * S * D, 4), kv = randn(B * H * S * D, 5);
  std::vector<uint8_t> mask(S * S);
  for (int64_t i = 0; i < S; ++i)
    for (int64_t j = 0; j < S; ++j) mask[size_t(i * S + j)] = uint8_t((i + j) % 3 != 0);
  std::vector<float> o_u8(q.size()), o_bool(q.size());
  for (auto [dtype, o] : {std::pair{ATTNGEN_U8, &o_u8}, std::pair{ATTNGEN_BOOL, &o_bool}}) {
    attngen_args a{};
    a.q = ag::tensor(q.data(), ATTNGEN_F32, {B, H, S, D});
    a.k = a.v = ag::tensor(kv.data(), ATTNGEN_F32, {B, H, S, D});
    a.o = ag::tensor(o->data(), ATTNGEN_F32, {B, H, S, D});
    a.mask = ag::tensor(mask.data(), dtype, {S, S});
    k.run(a, 1);
  }
  EXPECT_EQ(o_u8, o_bool);
}

}  // namespace
