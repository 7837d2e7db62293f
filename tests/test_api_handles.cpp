// The public API's handles and statuses, linked against libattngen only:
// released, null and foreign handles, thousands of live ones, shapes whose
// sizes overflow, huge thread counts, status strings and the per-thread last
// error. Each misuse is an error status with a message, never a crash.
#include <gtest/gtest.h>

#include <sys/mman.h>

#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/api_problem.hpp"

namespace {

using namespace attngen::api_test;

TEST(Api, ReleasedAndNullHandlesAreErrorsNotCrashes) {
  attngen_kernel* k = nullptr;
  ASSERT_EQ(attngen_kernel_compile(kPaddedSpec, nullptr, &k), ATTNGEN_OK);
  Problem p;
  attngen_args a = p.args();
  attngen_call* call = nullptr;
  ASSERT_EQ(attngen_kernel_prepare(k, &a, 2, &call), ATTNGEN_OK);
  ASSERT_EQ(attngen_kernel_retain(k), ATTNGEN_OK);
  ASSERT_EQ(attngen_kernel_release(k), ATTNGEN_OK);
  ASSERT_EQ(attngen_kernel_run(k, &a, 1), ATTNGEN_OK);  // one reference left
  ASSERT_EQ(attngen_kernel_release(k), ATTNGEN_OK);

  Failure f = failure(attngen_kernel_run(k, &a, 1));
  EXPECT_EQ(f.status, ATTNGEN_ERR_INVALID_HANDLE);
  EXPECT_TRUE(has(f, "kernel: invalid handle (already released")) << f.message;
  EXPECT_EQ(attngen_kernel_release(k), ATTNGEN_ERR_INVALID_HANDLE);
  EXPECT_EQ(attngen_kernel_retain(k), ATTNGEN_ERR_INVALID_HANDLE);
  attngen_kernel_info info;
  EXPECT_EQ(attngen_kernel_get_info(k, &info), ATTNGEN_ERR_INVALID_HANDLE);
  attngen_call* c2 = nullptr;
  EXPECT_EQ(attngen_kernel_prepare(k, &a, 2, &c2), ATTNGEN_ERR_INVALID_HANDLE);
  EXPECT_EQ(c2, nullptr);

  // The call keeps its kernel alive after the handle is gone.
  size_t items = 0;
  ASSERT_EQ(attngen_call_items(call, &items), ATTNGEN_OK);
  for (size_t i = 0; i < items; ++i) EXPECT_EQ(attngen_call_run_item(call, i), ATTNGEN_OK);
  f = failure(attngen_call_run_item(call, items));
  EXPECT_EQ(f.status, ATTNGEN_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(has(f, "item: must be < " + std::to_string(items))) << f.message;
  // A call handle is not a kernel handle.
  EXPECT_EQ(attngen_kernel_run(reinterpret_cast<attngen_kernel*>(call), &a, 1), ATTNGEN_ERR_INVALID_HANDLE);
  EXPECT_EQ(attngen_call_release(call), ATTNGEN_OK);
  EXPECT_EQ(attngen_call_release(call), ATTNGEN_ERR_INVALID_HANDLE);
  EXPECT_EQ(attngen_call_run_item(call, 0), ATTNGEN_ERR_INVALID_HANDLE);

  f = failure(attngen_kernel_run(nullptr, &a, 1));
  EXPECT_EQ(f.status, ATTNGEN_ERR_INVALID_HANDLE);
  EXPECT_TRUE(has(f, "kernel: null handle")) << f.message;
  EXPECT_EQ(attngen_kernel_release(nullptr), ATTNGEN_ERR_INVALID_HANDLE);
  EXPECT_EQ(attngen_kernel_get_info(nullptr, &info), ATTNGEN_ERR_INVALID_HANDLE);
  EXPECT_EQ(attngen_call_items(nullptr, &items), ATTNGEN_ERR_INVALID_HANDLE);
  EXPECT_EQ(attngen_call_release(nullptr), ATTNGEN_ERR_INVALID_HANDLE);
}

// docs/api.md: a foreign handle returns ATTNGEN_ERR_INVALID_HANDLE. Pointers
// the library never handed out are recognised by their address and never
// read: a made-up address, an unmapped page, memory that holds the live
// magic, a pointer into a real handle, a handle of the other kind.
TEST(Api, ForeignHandlesAreInvalidHandlesNotCrashes) {
  std::vector<attngen_kernel*> foreign = {reinterpret_cast<attngen_kernel*>(uintptr_t(0x10)),
                                          reinterpret_cast<attngen_kernel*>(~uintptr_t(0) - 63)};
  void* page = mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(page, MAP_FAILED);
  foreign.push_back(static_cast<attngen_kernel*>(page));
  // Looks live to a magic check: every word is "KRNL" (and "CALL").
  alignas(64) static uint32_t fake[2][256];
  for (uint32_t& w : fake[0]) w = 0x4b524e4c;
  for (uint32_t& w : fake[1]) w = 0x43414c4c;
  foreign.push_back(reinterpret_cast<attngen_kernel*>(fake[0]));
  attngen_kernel* real = nullptr;
  ASSERT_EQ(attngen_kernel_compile(kPaddedSpec, nullptr, &real), ATTNGEN_OK);
  foreign.push_back(reinterpret_cast<attngen_kernel*>(reinterpret_cast<char*>(real) + 8));
  Problem p;
  attngen_args a = p.args();
  attngen_call* call = nullptr;
  ASSERT_EQ(attngen_kernel_prepare(real, &a, 2, &call), ATTNGEN_OK);
  foreign.push_back(reinterpret_cast<attngen_kernel*>(call));

  for (attngen_kernel* k : foreign) {
    SCOPED_TRACE(testing::Message() << "handle " << static_cast<const void*>(k));
    Failure f = failure(attngen_kernel_run(k, &a, 1));
    EXPECT_EQ(f.status, ATTNGEN_ERR_INVALID_HANDLE);
    EXPECT_TRUE(has(f, "kernel: invalid handle (not a kernel handle made by this library)")) << f.message;
    attngen_kernel_info info;
    EXPECT_EQ(attngen_kernel_get_info(k, &info), ATTNGEN_ERR_INVALID_HANDLE);
    EXPECT_EQ(attngen_kernel_retain(k), ATTNGEN_ERR_INVALID_HANDLE);
    EXPECT_EQ(attngen_kernel_release(k), ATTNGEN_ERR_INVALID_HANDLE);
    attngen_call* c = nullptr;
    EXPECT_EQ(attngen_kernel_prepare(k, &a, 2, &c), ATTNGEN_ERR_INVALID_HANDLE);
    EXPECT_EQ(c, nullptr);
  }
  std::vector<attngen_call*> foreign_calls = {reinterpret_cast<attngen_call*>(uintptr_t(0x10)),
                                              static_cast<attngen_call*>(page),
                                              reinterpret_cast<attngen_call*>(fake[1]),
                                              reinterpret_cast<attngen_call*>(real),
                                              reinterpret_cast<attngen_call*>(reinterpret_cast<char*>(call) + 1)};
  for (attngen_call* c : foreign_calls) {
    size_t n = 0;
    Failure f = failure(attngen_call_items(c, &n));
    EXPECT_EQ(f.status, ATTNGEN_ERR_INVALID_HANDLE);
    EXPECT_TRUE(has(f, "call: invalid handle (not a call handle made by this library)")) << f.message;
    EXPECT_EQ(attngen_call_run_item(c, 0), ATTNGEN_ERR_INVALID_HANDLE);
    EXPECT_EQ(attngen_call_release(c), ATTNGEN_ERR_INVALID_HANDLE);
  }
  // The real handles still work.
  size_t items = 0;
  ASSERT_EQ(attngen_call_items(call, &items), ATTNGEN_OK);
  for (size_t i = 0; i < items; ++i) EXPECT_EQ(attngen_call_run_item(call, i), ATTNGEN_OK);
  EXPECT_EQ(attngen_call_release(call), ATTNGEN_OK);
  EXPECT_EQ(attngen_kernel_release(real), ATTNGEN_OK);
  munmap(page, 4096);
}

// Many handles at once: the pool grows, and every handle stays recognised.
TEST(Api, ThousandsOfLiveHandlesStayValid) {
  attngen_kernel* first = nullptr;
  ASSERT_EQ(attngen_kernel_compile(kPaddedSpec, nullptr, &first), ATTNGEN_OK);
  std::vector<attngen_kernel*> handles;
  for (int i = 0; i < 5000; ++i) {
    attngen_kernel* k = nullptr;
    ASSERT_EQ(attngen_kernel_compile(kPaddedSpec, nullptr, &k), ATTNGEN_OK);
    handles.push_back(k);
  }
  attngen_kernel_info info;
  for (attngen_kernel* k : handles) ASSERT_EQ(attngen_kernel_get_info(k, &info), ATTNGEN_OK);
  for (attngen_kernel* k : handles) ASSERT_EQ(attngen_kernel_release(k), ATTNGEN_OK);
  for (attngen_kernel* k : handles) ASSERT_EQ(attngen_kernel_get_info(k, &info), ATTNGEN_ERR_INVALID_HANDLE);
  EXPECT_EQ(attngen_kernel_get_info(first, &info), ATTNGEN_OK);
  EXPECT_EQ(attngen_kernel_release(first), ATTNGEN_OK);
}

// A shape whose element count overflows int64 once wrapped to 0 and let a null
// pointer through to the kernel (SIGSEGV); attngen_tensor_contiguous itself
// overflowed (UBSan). Now both are errors naming the tensor, and huge thread
// or part counts run (clamped) instead of overflowing the split.
TEST(Api, OverflowingShapesAreInvalidArgumentsAndHugeThreadCountsRun) {
  ag::Kernel kernel = ag::Kernel::compile(R"({"dtype": "f32", "head_dim": 8, "num_heads": 2})");
  const int64_t huge = int64_t(1) << 62;
  const int64_t shape[4] = {huge, 2, 4, 8};  // 2^68 elements: 0 modulo 2^64
  attngen_args a{};
  a.q = a.k = a.v = a.o = attngen_tensor_contiguous(nullptr, ATTNGEN_F32, 4, shape);
  Failure f = failure(attngen_kernel_run(kernel.handle(), &a, 1));
  EXPECT_EQ(f.status, ATTNGEN_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(has(f, "q: null data pointer")) << f.message;

  static float buf[2 * 2 * 4 * 8];
  a.q = a.k = a.v = a.o = attngen_tensor_contiguous(buf, ATTNGEN_F32, 4, shape);
  f = failure(attngen_kernel_run(kernel.handle(), &a, 1));
  EXPECT_EQ(f.status, ATTNGEN_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(has(f, "q: shape [4611686018427387904, 2, 4, 8] has more than 2^63 elements")) << f.message;

  const int64_t small[4] = {2, 2, 4, 8};
  a.q = a.k = a.v = attngen_tensor_contiguous(buf, ATTNGEN_F32, 4, small);
  std::vector<float> o(std::size(buf)), o1(std::size(buf));
  a.o = attngen_tensor_contiguous(o.data(), ATTNGEN_F32, 4, small);
  a.k.strides[0] = huge;  // reaches 2^64 bytes past the data
  f = failure(attngen_kernel_run(kernel.handle(), &a, 1));
  EXPECT_EQ(f.status, ATTNGEN_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(has(f, "k: strides [4611686018427387904, 32, 8, 1] of shape [2, 2, 4, 8] reach elements more than 2^63 bytes apart")) << f.message;

  for (size_t i = 0; i < std::size(buf); ++i) buf[i] = float(i % 7) / 7.f;
  a.k = attngen_tensor_contiguous(buf, ATTNGEN_F32, 4, small);
  ASSERT_EQ(attngen_kernel_run(kernel.handle(), &a, INT32_MAX), ATTNGEN_OK) << attngen_last_error();
  a.o.data = o1.data();
  ASSERT_EQ(attngen_kernel_run(kernel.handle(), &a, 1), ATTNGEN_OK) << attngen_last_error();
  EXPECT_LT(rel_err(o, o1), 1e-6);
  attngen_call* call = nullptr;
  ASSERT_EQ(attngen_kernel_prepare(kernel.handle(), &a, INT32_MAX, &call), ATTNGEN_OK) << attngen_last_error();
  size_t items = 0;
  ASSERT_EQ(attngen_call_items(call, &items), ATTNGEN_OK);
  EXPECT_GE(items, 1u);
  for (size_t i = 0; i < items; ++i) EXPECT_EQ(attngen_call_run_item(call, i), ATTNGEN_OK);
  EXPECT_EQ(attngen_call_release(call), ATTNGEN_OK);
  attngen_compile_options opt;
  attngen_compile_options_init(&opt);
  opt.threads = INT32_MAX;
  attngen_kernel* k = nullptr;
  ASSERT_EQ(attngen_kernel_compile(R"({"dtype": "f32", "head_dim": 8, "num_heads": 2})", &opt, &k), ATTNGEN_OK);
  EXPECT_EQ(attngen_kernel_run(k, &a, 0), ATTNGEN_OK) << attngen_last_error();
  EXPECT_EQ(attngen_kernel_release(k), ATTNGEN_OK);
}

TEST(Api, StatusStringsNameEveryStatus) {
  const std::pair<attngen_status, const char*> names[] = {
      {ATTNGEN_OK, "ok"},
      {ATTNGEN_ERR_INVALID_ARGUMENT, "invalid argument"},
      {ATTNGEN_ERR_INVALID_SPEC, "invalid spec"},
      {ATTNGEN_ERR_BACKEND, "backend unavailable"},
      {ATTNGEN_ERR_JIT_DISABLED, "kernel not cached and JIT disabled"},
      {ATTNGEN_ERR_INVALID_HANDLE, "invalid handle"},
      {ATTNGEN_ERR_IO, "I/O error"},
      {ATTNGEN_ERR_COMPILE, "compile error"},
      {ATTNGEN_ERR_OUT_OF_MEMORY, "out of memory"},
      {ATTNGEN_ERR_INTERNAL, "internal error"}};
  for (const auto& [status, name] : names) EXPECT_STREQ(attngen_status_string(status), name);
  // A code no version defines (one C++ may hold in the enum: its values 0..9
  // give it the range 0..15; 77 would be undefined behaviour here, not in C).
  EXPECT_STREQ(attngen_status_string(static_cast<attngen_status>(15)), "unknown status");
}

TEST(Api, LastErrorIsPerThread) {
  attngen_kernel* k = nullptr;
  ASSERT_NE(attngen_kernel_compile("{", nullptr, &k), ATTNGEN_OK);
  const std::string mine = attngen_last_error();
  std::string theirs;
  std::thread([&] {
    attngen_kernel_run(nullptr, nullptr, 0);
    theirs = attngen_last_error();
  }).join();
  EXPECT_EQ(attngen_last_error(), mine);
  EXPECT_NE(theirs, mine);
  EXPECT_STREQ(attngen_status_string(ATTNGEN_ERR_INVALID_HANDLE), "invalid handle");
}

}  // namespace
