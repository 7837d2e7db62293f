// The cuda backend's driver side on the fake driver and NVRTC
// (tests/fake_cuda): no GPU and no CUDA toolkit needed. What is checked is
// attngen's host side, against what the fake driver recorded: the launch
// (grid, block, shared memory, stream and the AttnParams block), device
// buffers mirroring host views, module loading once per context, and clear
// errors for every driver failure. The fake kernel computes nothing, so no
// test here looks at attention results (the GPU job does, scripts/gpu-check.sh).
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <thread>
#include <vector>

#include "codegen/spec/spec.hpp"
#include "runtime/core/backend.hpp"
#include "runtime/cuda/cuda_backend.hpp"
#include "runtime/cuda/cuda_kernel.hpp"
#include "runtime/cuda/device_buffers.hpp"
#include "runtime/cuda/driver_library.hpp"
#include "tests/error_of.hpp"
#include "tests/fake_cuda/fake_cuda_hooks.hpp"
#include "tools/common/kernel_calls.hpp"

namespace attngen {
namespace {

using testing::error_of;
using testing::fake_counters;
using testing::fake_last_launch;
using testing::fake_launch_before_last;
using testing::ScopedEnv;

const char* kSpec = R"({"dtype": "bf16", "head_dim": 64, "num_heads": 4, "num_kv_heads": 2,
    "mask": [{"type": "padding"}, {"type": "causal", "align": "bottom_right"}], "return_lse": true})";

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Host tensors of kSpec's shapes ([B, H, S, D], contiguous) with recognisable contents.
struct HostTensors {
  int64_t B = 2, Sq = 33, Skv = 70, H = 4, Hkv = 2, D = 64;
  std::vector<uint16_t> q, k, v, o;
  std::vector<float> lse;
  std::vector<int32_t> kv_lens;
  AttentionArgs args;
  HostTensors(int64_t sq = 33, int64_t skv = 70) : Sq(sq), Skv(skv) {
    q.resize(B * H * Sq * D), k.resize(B * Hkv * Skv * D), v.resize(k.size()), o.resize(q.size(), 0xdead);
    lse.resize(B * H * Sq, -7.f);
    kv_lens = {int32_t(Skv), int32_t(Skv * 3 / 5)};
    for (size_t i = 0; i < q.size(); ++i) q[i] = uint16_t(i);
    for (size_t i = 0; i < k.size(); ++i) k[i] = uint16_t(3 * i), v[i] = uint16_t(5 * i);
    args.q = contiguous_view(q.data(), ElemType::bf16, {B, H, Sq, D});
    args.k = contiguous_view(k.data(), ElemType::bf16, {B, Hkv, Skv, D});
    args.v = contiguous_view(v.data(), ElemType::bf16, {B, Hkv, Skv, D});
    args.o = contiguous_view(o.data(), ElemType::bf16, {B, H, Sq, D});
    args.lse = contiguous_view(lse.data(), ElemType::f32, {B, H, Sq});
    args.kv_lens = contiguous_view(kv_lens.data(), ElemType::i32, {B});
  }
};

std::unique_ptr<Kernel> compile(const char* json) {
  const Spec spec = parse_spec(json);
  return select_backend("cuda", spec).compile(spec);
}

const cuda::CubinImage& image_of(const Kernel& k) { return dynamic_cast<const cuda::CudaKernel&>(k).image(); }

TEST(FakeDriver, TheBackendIsAvailableOnTheFakeDeviceAndInfoDescribesIt) {
  EXPECT_EQ(cuda_backend().unavailable_reason(), "");
  EXPECT_EQ(cuda_backend().isa().rfind("sm_90a/nvrtc-13.99/tpl-", 0), 0u) << cuda_backend().isa();
  const std::vector<std::string> lines = cuda::environment_summary();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], std::string("nvrtc 13.99 (") + FAKE_NVRTC_PATH + ")");
  EXPECT_EQ(lines[1], "driver 13.0");
  EXPECT_EQ(lines[2], "device 0: Fake CUDA device (attngen tests) (sm_90, 132 SMs, 227 KiB shared memory per block)");
  EXPECT_EQ(cuda::device_count(), 1);
}

TEST(FakeDriver, HostTensorsAreMirroredLaunchedOnAndCopiedBack) {
  const std::unique_ptr<Kernel> k = compile(kSpec);
  const cuda::CubinImage& image = image_of(*k);
  EXPECT_EQ(image.arch, "sm_90a");
  HostTensors h;
  const FakeCudaCounters before = fake_counters();
  run_on_host_tensors(*k, h.args, RunOptions{});
  const FakeCudaCounters after = fake_counters();
  const FakeCudaLaunch l = fake_last_launch();
  EXPECT_STREQ(l.entry, image.entry.c_str());
  EXPECT_STREQ(l.arch, "sm_90a");
  // Grid (ceil(Sq * G / block_m), Hkv, B) of `threads` threads: GQA-packed,
  // the 2 heads of a KV group in one block (33 query rows would leave most of
  // a 128-row tile per head empty).
  ASSERT_EQ(image.launch.block_m, 128);
  EXPECT_EQ(l.grid[0], 1u);
  EXPECT_EQ(l.grid[1], unsigned(h.Hkv));
  EXPECT_EQ(l.grid[2], unsigned(h.B));
  EXPECT_EQ(l.block[0], unsigned(image.launch.threads));
  EXPECT_EQ(l.block[1] * l.block[2], 1u);
  EXPECT_EQ(l.shared_bytes, unsigned(image.launch.smem_bytes));
  EXPECT_EQ(l.stream, nullptr);
  // The parameter block: device copies (not the host pointers), the views' strides and extents.
  const AttnParams& p = l.params;
  for (const void* host : {(const void*)h.q.data(), (const void*)h.k.data(), (const void*)h.v.data()})
    EXPECT_TRUE(p.q != host && p.k != host && p.v != host);
  EXPECT_NE(p.o, (void*)h.o.data());
  EXPECT_NE(p.lse, nullptr);
  EXPECT_NE(p.kv_lens, nullptr);
  EXPECT_EQ(p.q_lens, nullptr);
  EXPECT_EQ(p.mask, nullptr);
  EXPECT_EQ(p.alibi, nullptr);
  EXPECT_EQ(p.batch, h.B);
  EXPECT_EQ(p.sq, h.Sq);
  EXPECT_EQ(p.skv, h.Skv);
  const int64_t q_str[4] = {h.H * h.Sq * h.D, h.Sq * h.D, h.D, 1}, k_str[4] = {h.Hkv * h.Skv * h.D, h.Skv * h.D, h.D, 1};
  for (int d = 0; d < 4; ++d) {
    EXPECT_EQ(p.q_str[d], q_str[d]) << d;
    EXPECT_EQ(p.o_str[d], q_str[d]) << d;
    EXPECT_EQ(p.k_str[d], k_str[d]) << d;
    EXPECT_EQ(p.v_str[d], k_str[d]) << d;
  }
  EXPECT_EQ(p.lse_str[0], h.H * h.Sq);
  EXPECT_EQ(p.lse_str[1], h.Sq);
  EXPECT_EQ(p.lse_str[2], 1);
  EXPECT_EQ(p.kv_lens_str, 1);
  EXPECT_EQ(p.mask_type, AG_MASK_BYTES);
  // q, k, v, o, lse, kv_lens: uploaded, freed again; o and lse downloaded
  // after a synchronisation. The kernel wrote nothing, so o and lse came
  // back as they were sent.
  EXPECT_EQ(after.allocations - before.allocations, 6);
  EXPECT_EQ(after.live_allocations, before.live_allocations);
  EXPECT_EQ(after.copies_to_device - before.copies_to_device, 6);
  EXPECT_EQ(after.copies_from_device - before.copies_from_device, 2);
  EXPECT_EQ(after.synchronizations - before.synchronizations, 1);
  EXPECT_EQ(after.launches - before.launches, 1);
  EXPECT_EQ(h.o[5], 0xdead);
  EXPECT_EQ(h.lse[7], -7.f);
}

TEST(FakeDriver, DecodingSplitsTheKeysAcrossIdleSmsAndMergesTheSplits) {
  const std::unique_ptr<Kernel> k = compile(kSpec);
  const cuda::CubinImage& image = image_of(*k);
  ASSERT_EQ(image.launch.block_n, 64);
  // One query, 1000 keys (16 key blocks), 2 x 2 packed blocks on 132 SMs:
  // 4 splits of 4 key blocks each.
  HostTensors h(1, 1000);
  const FakeCudaCounters before = fake_counters();
  run_on_host_tensors(*k, h.args, RunOptions{});
  const FakeCudaCounters after = fake_counters();
  EXPECT_EQ(after.launches - before.launches, 2);
  const FakeCudaLaunch main = fake_launch_before_last(), merge = fake_last_launch();
  EXPECT_EQ(main.entry, image.entry + "_split");
  EXPECT_EQ(main.grid[0], 1u);
  EXPECT_EQ(main.grid[1], unsigned(h.Hkv));
  EXPECT_EQ(main.grid[2], unsigned(h.B * 4));  // B x splits
  EXPECT_NE(main.workspace, 0u);
  EXPECT_EQ(merge.entry, image.entry + "_merge");
  EXPECT_EQ(merge.grid[0], 1u);  // (Sq, Hq, B)
  EXPECT_EQ(merge.grid[1], unsigned(h.H));
  EXPECT_EQ(merge.grid[2], unsigned(h.B));
  EXPECT_EQ(merge.block[0], unsigned(cuda::kMergeThreads));
  EXPECT_EQ(merge.splits, 4);
  EXPECT_EQ(merge.workspace, main.workspace);
  EXPECT_EQ(merge.params.o, main.params.o);
  // The workspace is freed in stream order after the merge (here: at once).
  EXPECT_EQ(after.live_allocations, before.live_allocations);
  EXPECT_EQ(cuda::split_workspace_bytes(parse_spec(kSpec), 4, h.B, 1), 4 * 4 * h.B * h.H * (h.D + 1));

  // A device without stream-ordered allocation (or out of memory) launches
  // unsplit: one grid, no workspace.
  ScopedEnv fail("FAKE_CUDA_FAIL", "cuMemAllocAsync:801");
  const FakeCudaCounters before2 = fake_counters();
  run_on_host_tensors(*k, h.args, RunOptions{});
  EXPECT_EQ(fake_counters().launches - before2.launches, 1);
  const FakeCudaLaunch whole = fake_last_launch();
  EXPECT_STREQ(whole.entry, image.entry.c_str());
  EXPECT_EQ(whole.grid[2], unsigned(h.B));
  EXPECT_EQ(whole.workspace, 0u);
}

TEST(FakeDriver, ModulesLoadOncePerContextAndUnloadWithTheKernel) {
  const FakeCudaCounters before = fake_counters();
  {
    const std::unique_ptr<Kernel> k = compile(kSpec);
    HostTensors h;
    cuda::DeviceArgs d(h.args);
    k->run(d.args());
    k->run(d.args());
    // Another thread: no context current there, so device 0's primary one is
    // made current, the same context, whose module is already loaded.
    std::thread([&] { k->run(d.args()); }).join();
    const FakeCudaCounters after = fake_counters();
    EXPECT_EQ(after.module_loads - before.module_loads, 2);  // the kernel's; split-KV's and the merge's
    EXPECT_EQ(after.launches - before.launches, 3);
    EXPECT_EQ(after.module_unloads, before.module_unloads);
  }
  EXPECT_EQ(fake_counters().module_unloads - before.module_unloads, 2);
}

// The two modules are compiled side by side (two NVRTC programs in flight at
// once) from the one source, each with its own entries: the kernel in the
// first, split-KV's instance and the merge in the second.
TEST(FakeDriver, TheKernelAndItsSplitInstanceAreTwoModulesCompiledSideBySide) {
  auto take_max_in_flight = testing::fake_nvrtc_symbol<int (*)()>("fake_nvrtc_take_max_in_flight");
  ASSERT_TRUE(take_max_in_flight);
  ScopedEnv meet("FAKE_NVRTC_RENDEZVOUS", "2");
  take_max_in_flight();
  const std::unique_ptr<Kernel> k = compile(R"({"dtype": "f16", "head_dim": 64, "num_heads": 11})");
  EXPECT_EQ(take_max_in_flight(), 2);
  const cuda::CubinImage& image = image_of(*k);
  const std::string cubin(image.cubin.begin(), image.cubin.end());
  const std::string split(image.split_cubin.begin(), image.split_cubin.end());
  const std::string entry = "entry " + image.entry + "\n";
  const std::string split_entry = "entry " + cuda::split_entry_of(image.entry) + "\n";
  const std::string merge_entry = "entry " + cuda::merge_entry_of(image.entry) + "\n";
  EXPECT_TRUE(contains(cubin, entry) && !contains(cubin, split_entry) && !contains(cubin, merge_entry)) << cubin;
  EXPECT_TRUE(!contains(split, entry) && contains(split, split_entry) && contains(split, merge_entry)) << split;
}

// A split module that does not load fails the run, naming the kernel, and
// leaves nothing loaded.
TEST(FakeDriver, ASplitModuleThatDoesNotLoadFailsTheRunAndUnloadsTheKernels) {
  const std::unique_ptr<Kernel> good = compile(kSpec);
  cuda::CubinImage image = image_of(*good);
  const char garbage[] = "not a cubin";
  image.split_cubin.assign(garbage, garbage + sizeof garbage);
  const cuda::CudaKernel k(good->spec(), good->target(), image);
  HostTensors h;
  cuda::DeviceArgs d(h.args);
  const FakeCudaCounters before = fake_counters();
  EXPECT_EQ(error_of([&] { k.run(d.args()); }),
            "cuda: cannot load kernel " + k.key() +
                " compiled for sm_90a on Fake CUDA device (attngen tests) (sm_90): CUDA_ERROR_INVALID_IMAGE (device "
                "kernel image is invalid)");
  const FakeCudaCounters after = fake_counters();
  EXPECT_EQ(after.module_loads - before.module_loads, 1);
  EXPECT_EQ(after.module_unloads - before.module_unloads, 1);
  EXPECT_EQ(after.launches, before.launches);
}

// A host that resets device 0's primary context (cudaDeviceReset) gets the
// same handle for a new context, without the modules loaded in the old one:
// the kernel sees the new context id and loads its module again rather than
// launching a stale function.
TEST(FakeDriver, AResetContextBehindTheSameHandleGetsItsModuleAgain) {
  const auto reset = testing::fake_cuda_symbol<cuda::CUresult (*)(cuda::CUdevice)>("cuDevicePrimaryCtxReset_v2");
  ASSERT_TRUE(reset);
  const std::unique_ptr<Kernel> k = compile(kSpec);
  HostTensors h;
  cuda::DeviceArgs d(h.args);
  k->run(d.args());
  const cuda::CUcontext before_ctx = cuda::ensure_context();
  const unsigned long long before_id = cuda::context_id(before_ctx);
  const FakeCudaCounters before = fake_counters();
  ASSERT_EQ(reset(0), 0);
  EXPECT_EQ(cuda::ensure_context(), before_ctx);
  EXPECT_NE(cuda::context_id(before_ctx), before_id);
  k->run(d.args());  // a stale function would be CUDA_ERROR_INVALID_HANDLE
  k->run(d.args());
  const FakeCudaCounters after = fake_counters();
  EXPECT_EQ(after.module_loads - before.module_loads, 2);
  EXPECT_EQ(after.launches - before.launches, 2);
}

TEST(FakeDriver, EmptyCallsLaunchNothingAndOversizedGridsAreRefused) {
  const std::unique_ptr<Kernel> k = compile(kSpec);
  HostTensors h;
  h.args.q.shape[0] = h.args.k.shape[0] = h.args.v.shape[0] = h.args.o.shape[0] = h.args.lse.shape[0] = 0;
  h.args.kv_lens.shape[0] = 0;
  const long launches = fake_counters().launches;
  run_on_host_tensors(*k, h.args, RunOptions{});
  EXPECT_EQ(fake_counters().launches, launches);
  // B > 65535 (grid z), with fake addresses: refused before any is looked at.
  HostTensors big;
  AttentionArgs a = big.args;
  a.memory = Memory::device;
  for (TensorRef* t : {&a.q, &a.k, &a.v, &a.o, &a.lse, &a.kv_lens}) t->shape[0] = 70000;
  const std::string e = error_of([&] { k->run(a); });
  EXPECT_TRUE(contains(e, "cuda: B = 70000 and num_heads = 4 must each be at most 65535 (grid z and y)")) << e;
}

TEST(FakeDriver, StridedViewsAreMirroredOverTheirSpanAndOnlyOutputsComeBack) {
  // q: every other row of a larger buffer, heads in reverse order (negative stride);
  // the mask broadcast over B and Hq (zero strides); o inside guard values.
  const Spec spec = parse_spec(R"({"dtype": "f16", "head_dim": 16, "num_heads": 2,
      "mask": [{"type": "custom", "format": "bool"}]})");
  const int64_t B = 1, H = 2, Sq = 3, Skv = 5, D = 16;
  std::vector<uint16_t> qbuf(B * H * Sq * 2 * D), k(B * H * Skv * D, 1), v(k.size(), 2);
  for (size_t i = 0; i < qbuf.size(); ++i) qbuf[i] = uint16_t(i);
  std::vector<uint16_t> obuf(8 + B * H * Sq * D + 8, 0x5555);
  std::vector<uint8_t> mask(Sq * Skv, 1);
  AttentionArgs a;
  a.q = contiguous_view(qbuf.data(), ElemType::f16, {B, H, Sq, D});
  a.q.stride[2] = 2 * D, a.q.stride[1] = Sq * 2 * D, a.q.stride[0] = H * Sq * 2 * D;
  a.q.data = qbuf.data() + (H - 1) * a.q.stride[1];  // head 0 is the last in memory
  a.q.stride[1] = -a.q.stride[1];
  a.k = contiguous_view(k.data(), ElemType::f16, {B, H, Skv, D});
  a.v = contiguous_view(v.data(), ElemType::f16, {B, H, Skv, D});
  a.o = contiguous_view(obuf.data() + 8, ElemType::f16, {B, H, Sq, D});
  a.mask = contiguous_view(mask.data(), ElemType::b8, {1, 1, Sq, Skv});
  a.mask.stride[0] = a.mask.stride[1] = 0;
  const BoundArgs bound = bind_args(spec, a);  // the views are valid ones
  (void)bound;
  const long live = fake_counters().live_allocations;
  {
    cuda::DeviceArgs d(a);
    const AttentionArgs& dev = d.args();
    EXPECT_EQ(dev.memory, Memory::device);
    // Same views (strides kept), on device memory spanning exactly the view:
    // q from its lowest address (head 1, row 0) to its highest (head 0, last row's end).
    for (int i = 0; i < 4; ++i) EXPECT_EQ(dev.q.stride[i], a.q.stride[i]);
    const auto* dq = static_cast<const uint16_t*>(dev.q.data);  // fake device memory is host memory
    const auto* hq = static_cast<const uint16_t*>(a.q.data);
    const int64_t lo = a.q.stride[1] * (H - 1), hi = (Sq - 1) * a.q.stride[2] + D - 1;
    EXPECT_EQ(std::memcmp(dq + lo, hq + lo, size_t(hi - lo + 1) * 2), 0);
    EXPECT_EQ(dq[0], hq[0]);
    EXPECT_EQ(dev.mask.stride[0], 0);
    EXPECT_EQ(std::memcmp(dev.mask.data, mask.data(), mask.size()), 0);
    EXPECT_EQ(fake_counters().live_allocations - live, 5);  // q, k, v, o, mask
    // What the "kernel" writes to o comes back, exactly over o's span.
    auto* dout = static_cast<uint16_t*>(const_cast<void*>(dev.o.data));
    for (int64_t i = 0; i < B * H * Sq * D; ++i) dout[i] = uint16_t(i);
    const std::vector<uint16_t> q_before(qbuf);
    std::memset(const_cast<void*>(dev.q.data), 0, 2);  // inputs never come back
    d.download_outputs();
    EXPECT_EQ(obuf[7], 0x5555);
    EXPECT_EQ(obuf[8], 0);
    EXPECT_EQ(obuf[8 + 95], 95);
    EXPECT_EQ(obuf[8 + 96], 0x5555);
    EXPECT_EQ(qbuf, q_before);
  }
  EXPECT_EQ(fake_counters().live_allocations, live);
  // An empty view is not copied: a null device pointer.
  a.q.shape[2] = 0;
  cuda::DeviceArgs empty(a);
  EXPECT_EQ(empty.args().q.data, nullptr);
}

TEST(FakeDriver, KernelCallsTimeDeviceLaunchesWithEvents) {
  const std::unique_ptr<Kernel> k = compile(kSpec);
  HostTensors a, b, c;
  const long launches = fake_counters().launches;
  KernelCalls calls(*k, {a.args, b.args, c.args}, RunOptions{});
  const double ms = calls.run_all();
  EXPECT_GE(ms, 0.0);
  EXPECT_EQ(fake_counters().launches - launches, 3);
  calls.finish();
}

// Each injected driver failure is an attngen::Error naming the step and the
// driver's error; nothing crashes and nothing is left allocated.
TEST(FakeDriver, DriverFailuresAreClearErrors) {
  HostTensors h;
  const long live = fake_counters().live_allocations;
  {
    ScopedEnv fail("FAKE_CUDA_FAIL", "cuMemAlloc_v2:2");
    const std::string e = error_of([&] { cuda::DeviceArgs d(h.args); });
    EXPECT_EQ(e, "cuda: cannot allocate 33792 bytes of device memory: CUDA_ERROR_OUT_OF_MEMORY (out of memory)");
  }
  {
    ScopedEnv fail("FAKE_CUDA_FAIL", "cuMemcpyHtoD_v2");
    EXPECT_EQ(error_of([&] { cuda::DeviceArgs d(h.args); }),
              "cuda: copying 33792 bytes to the device: CUDA_ERROR_UNKNOWN (unknown error)");
  }
  EXPECT_EQ(fake_counters().live_allocations, live);
  const std::unique_ptr<Kernel> k = compile(kSpec);
  cuda::DeviceArgs d(h.args);
  {
    ScopedEnv fail("FAKE_CUDA_FAIL", "cuMemcpyDtoH_v2:700");
    EXPECT_TRUE(contains(error_of([&] { d.download_outputs(); }), "from the device: CUDA_ERROR_ILLEGAL_ADDRESS"));
  }
  {
    ScopedEnv fail("FAKE_CUDA_FAIL", "cuCtxSynchronize:700");
    EXPECT_EQ(error_of([&] { d.download_outputs(); }),
              "cuda: the kernel failed (cuCtxSynchronize): CUDA_ERROR_ILLEGAL_ADDRESS (an illegal memory access was "
              "encountered)");
  }
  {
    // Before the module is loaded: the load fails, naming kernel, arch and device.
    ScopedEnv fail("FAKE_CUDA_FAIL", "cuModuleLoadData:200");
    EXPECT_EQ(error_of([&] { k->run(d.args()); }),
              "cuda: cannot load kernel " + k->key() +
                  " compiled for sm_90a on Fake CUDA device (attngen tests) (sm_90): CUDA_ERROR_INVALID_IMAGE (device "
                  "kernel image is invalid)");
  }
  {
    ScopedEnv fail("FAKE_CUDA_FAIL", "cuModuleLoadData:200,cuDeviceGetName");  // the device unnamed, still an error
    EXPECT_TRUE(contains(error_of([&] { k->run(d.args()); }), "compiled for sm_90a: CUDA_ERROR_INVALID_IMAGE"));
  }
  {
    ScopedEnv fail("FAKE_CUDA_FAIL", "cuModuleGetFunction:500");
    EXPECT_EQ(error_of([&] { k->run(d.args()); }),
              "cuda: kernel entry '" + image_of(*k).entry + "': CUDA_ERROR_NOT_FOUND (named symbol not found)");
  }
  {
    ScopedEnv fail("FAKE_CUDA_FAIL", "cuLaunchKernel:701");
    EXPECT_EQ(error_of([&] { k->run(d.args()); }),
              "cuda: launching kernel " + k->key() +
                  ": CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES (too many resources requested for launch)");
  }
  {
    ScopedEnv fail("FAKE_CUDA_FAIL", "cuLaunchKernel:12345");  // a code the driver has no name for
    EXPECT_EQ(error_of([&] { k->run(d.args()); }), "cuda: launching kernel " + k->key() + ": CUresult 12345");
  }
  {
    ScopedEnv fail("FAKE_CUDA_FAIL", "cuEventSynchronize:700");
    cuda::DeviceTimer timer;
    timer.start();
    EXPECT_TRUE(contains(error_of([&] { timer.stop_ms(); }), "cuda: the kernel failed (cuEventSynchronize)"));
  }
  {
    ScopedEnv fail("FAKE_CUDA_FAIL", "cuEventCreate");
    EXPECT_EQ(error_of([] { cuda::DeviceTimer timer; }), "cuEventCreate: CUDA_ERROR_UNKNOWN (unknown error)");
  }
  {
    ScopedEnv fail("FAKE_CUDA_FAIL", "cuCtxGetCurrent");
    EXPECT_EQ(error_of([] { cuda::ensure_context(); }), "cuCtxGetCurrent: CUDA_ERROR_UNKNOWN (unknown error)");
  }
  {
    // A thread with no current context, whose primary context cannot be retained.
    ScopedEnv fail("FAKE_CUDA_FAIL", "cuDevicePrimaryCtxRetain:2");
    std::string e;
    std::thread([&] { e = error_of([&] { k->run(d.args()); }); }).join();
    EXPECT_EQ(e, "cuDevicePrimaryCtxRetain(device 0): CUDA_ERROR_OUT_OF_MEMORY (out of memory)");
  }
  {
    ScopedEnv fail("FAKE_CUDA_FAIL", "cuDeviceGetName,cuDriverGetVersion");
    const std::vector<std::string> lines = cuda::environment_summary();
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[1], "driver ");
    EXPECT_EQ(lines[2], "device 0: cuDeviceGetName: CUDA_ERROR_UNKNOWN (unknown error)");
  }
  {
    ScopedEnv fail("FAKE_CUDA_FAIL", "cuDeviceGetCount");
    EXPECT_EQ(cuda::device_count(), 0);
    EXPECT_EQ(cuda::environment_summary().back(), "no CUDA device");
  }
  k->run(d.args());  // and the kernel still runs once the driver recovers
}

TEST(FakeDriver, ACubinForAnotherArchIsRefusedByTheDevice) {
  // sm_80 code cannot run on the fake sm_90 device: the driver's error, and how to fix it.
  const Spec spec = parse_spec(kSpec);
  const std::unique_ptr<Kernel> k = select_backend("cuda", spec, "sm_80").compile(spec);
  HostTensors h;
  cuda::DeviceArgs d(h.args);
  EXPECT_EQ(error_of([&] { k->run(d.args()); }),
            "cuda: cannot load kernel " + k->key() +
                " compiled for sm_80 on Fake CUDA device (attngen tests) (sm_90): CUDA_ERROR_NO_BINARY_FOR_GPU (no "
                "kernel image is available for execution on the device) (compile it for this device's arch)");
}

TEST(FakeDriver, LargeSharedMemoryIsOptedInToOrRefusedClearly) {
  // Dv = 256 in f32: a tile beyond 48 KiB of dynamic shared memory.
  const char* big = R"({"dtype": "f32", "head_dim": 256, "num_heads": 2})";
  const std::unique_ptr<Kernel> k = compile(big);
  const int smem = image_of(*k).launch.smem_bytes;
  ASSERT_GT(smem, 48 * 1024) << "pick a spec whose tile needs the opt-in";
  const Spec spec = parse_spec(big);
  std::vector<float> q(2 * 4 * 256), o(q.size());
  AttentionArgs a;
  a.q = a.k = a.v = contiguous_view(q.data(), ElemType::f32, {1, 2, 4, 256});
  a.o = contiguous_view(o.data(), ElemType::f32, {1, 2, 4, 256});
  {
    ScopedEnv optin("FAKE_CUDA_SMEM_OPTIN", "49152");
    EXPECT_EQ(error_of([&] { run_on_host_tensors(*k, a, RunOptions{}); }),
              "cuda: kernel " + k->key() + " needs " + std::to_string(smem) +
                  " bytes of dynamic shared memory per block, which this device refuses: CUDA_ERROR_INVALID_VALUE "
                  "(invalid argument)");
  }
  run_on_host_tensors(*k, a, RunOptions{});  // the fake refuses a launch that did not opt in
  EXPECT_EQ(fake_last_launch().shared_bytes, unsigned(smem));
}

TEST(FakeDriver, TileTyposIncompleteImagesAndWorkItemsAreRefused) {
  {
    ScopedEnv tile("ATTNGEN_CUDA_TILE", "65x32");
    EXPECT_TRUE(contains(cuda_backend().setting_error(), "ATTNGEN_CUDA_TILE: expected 64x32, 64x64, 128x32 or 128x64"))
        << cuda_backend().setting_error();
  }
  EXPECT_EQ(cuda_backend().setting_error(), "");
  // An image without both cubins is refused, and the backend rebuilds rather than load it.
  const Spec spec = parse_spec(kSpec);
  for (const std::vector<uint8_t>& split_cubin : {std::vector<uint8_t>{}, std::vector<uint8_t>{1}}) {
    cuda::CubinImage empty{"sm_90a", "entry", {128, 64, 1024}, "desc", "", {}, split_cubin};
    const std::vector<uint8_t> bytes = cuda::encode_cubin_image(empty);
    EXPECT_EQ(error_of([&] { cuda::decode_cubin_image(bytes); }), "cuda image: incomplete");
    EXPECT_EQ(cuda_backend().deserialize(spec, bytes), nullptr);
  }
  cuda::CubinImage no_split{"sm_90a", "entry", {128, 64, 1024}, "desc", "", {1}, {}};
  EXPECT_EQ(error_of([&] { cuda::decode_cubin_image(cuda::encode_cubin_image(no_split)); }), "cuda image: incomplete");
  // Work items are for CPU thread pools.
  const std::unique_ptr<Kernel> k = compile(kSpec);
  HostTensors h;
  cuda::DeviceArgs d(h.args);
  EXPECT_TRUE(contains(error_of([&] { k->plan_call(k->bind(d.args()), 2); }),
                       "prepare: cuda kernels run as one launch on a stream (attngen_kernel_run_cuda)"));
}

TEST(FakeNvrtc, CompileFailuresCarryTheLogAndDumpsDegradeToAComment) {
  const std::string spec = R"({"dtype": "f16", "head_dim": 32, "num_heads": 3})";
  {
    ScopedEnv fail("FAKE_NVRTC_FAIL", "1");
    const std::string e = error_of([&] { compile(spec.c_str()); });
    EXPECT_TRUE(contains(e, "cuda: NVRTC 13.99 failed to compile cuda kernel ")) << e;
    // The kernel's module is the first whose failure is reported.
    EXPECT_TRUE(contains(
        e, "options --std=c++17 --ptxas-options=-v -DAG_MODULE=1 --gpu-architecture=sm_90a): NVRTC_ERROR_COMPILATION\n"))
        << e;
    EXPECT_TRUE(contains(e, ".cu(1): error: this compile was made to fail (FAKE_NVRTC_FAIL=1)")) << e;
  }
  const std::unique_ptr<Kernel> k = compile(spec.c_str());
  // What ATTNGEN_DUMP writes: the rendered source, the PTX, the ptxas report, the two cubins.
  const std::vector<Kernel::CodeBlob> blobs = k->code_blobs();
  ASSERT_EQ(blobs.size(), 5u);
  const std::string cu(static_cast<const char*>(blobs[0].data), blobs[0].size);
  const std::string ptx(static_cast<const char*>(blobs[1].data), blobs[1].size);
  EXPECT_TRUE(contains(cu, "#define AG_ENTRY " + image_of(*k).entry));
  for (const std::string& entry : {image_of(*k).entry, cuda::split_entry_of(image_of(*k).entry),
                                    cuda::merge_entry_of(image_of(*k).entry)})
    EXPECT_TRUE(contains(ptx, ".visible .entry " + entry + "(")) << entry;
  EXPECT_EQ(std::string(static_cast<const char*>(blobs[3].data), 10), FAKE_CUBIN_MAGIC);
  EXPECT_EQ(blobs[4].name, "split.cubin");
  EXPECT_EQ(std::string(static_cast<const char*>(blobs[4].data), 10), FAKE_CUBIN_MAGIC);
  // The resource report of each entry: the kernel, its split-KV instance, the merge.
  std::map<std::string, std::string> details;
  for (const auto& [name, value] : k->details()) details[name] = value;
  for (const char* entry : {"resources", "split-KV", "merge"})
    EXPECT_EQ(details[entry], "registers 96, spill stores 0 B, spill loads 0 B, stack 0 B, static smem 0 B") << entry;
  // A kernel whose second compile (for the dump) fails keeps a comment in place of its PTX.
  const std::unique_ptr<Kernel> k2 = compile(R"({"dtype": "f16", "head_dim": 32, "num_heads": 5})");
  ScopedEnv fail("FAKE_NVRTC_FAIL", "1");
  const std::vector<Kernel::CodeBlob> b2 = k2->code_blobs();
  const std::string ptx2(static_cast<const char*>(b2[1].data), b2[1].size);
  EXPECT_EQ(ptx2.rfind("// cuda: NVRTC 13.99 failed to compile", 0), 0u) << ptx2;
}

// A kernel of an explicit schedule (the compile option cuda_tile: the target
// "/TILE") has it in its key and dumps with it, whatever ATTNGEN_CUDA_TILE
// says then.
TEST(FakeNvrtc, AnExplicitScheduleIsTheKernelsInItsKeyAndItsDump) {
  const Spec spec = parse_spec(R"({"dtype": "bf16", "head_dim": 64, "num_heads": 8, "num_kv_heads": 2})");
  const Backend& decode = select_backend("cuda", spec, "/16x32k4");
  EXPECT_EQ(decode.isa(), cuda_backend().isa() + "/tile-16x32k4");
  EXPECT_EQ(&select_backend("cuda", spec, "sm_90a/16x32k4"), &select_backend("cuda", spec, "sm_90a/16x32k4"));
  const std::unique_ptr<Kernel> k = decode.compile(spec);
  EXPECT_EQ(image_of(*k).launch.block_m, 16);
  ScopedEnv env("ATTNGEN_CUDA_TILE", "64x64");
  EXPECT_EQ(decode.isa(), cuda_backend().isa().substr(0, cuda_backend().isa().find("/tile-")) + "/tile-16x32k4");
  const std::vector<Kernel::CodeBlob> blobs = k->code_blobs();
  const std::string cu(static_cast<const char*>(blobs[0].data), blobs[0].size);
  EXPECT_TRUE(contains(cu, "#define AG_KEY_WARPS 4\n")) << cu.substr(0, 2000);
  EXPECT_TRUE(contains(cu, "#define AG_BLOCK_M 16\n"));
  EXPECT_EQ(error_of([&] { select_backend("cuda", spec, "/16x16k4"); }).rfind("cuda_tile: expected 64x32", 0), 0u);
}

TEST(FakeNvrtc, FailingNvrtcCallsAreErrorsOrDegradeWhereTheOutputIsOptional) {
  const char* spec = R"({"dtype": "f16", "head_dim": 32, "num_heads": 6})";
  for (const char* call : {"nvrtcCreateProgram", "nvrtcGetCUBINSize", "nvrtcGetCUBIN"}) {
    ScopedEnv fail("FAKE_NVRTC_FAIL", call);
    const std::string e = error_of([&] { compile(spec); });
    EXPECT_TRUE(contains(e, std::string(" for sm_90a: ") + call + " failed: NVRTC_ERROR_INVALID_INPUT")) << e;
  }
  // Without its log the kernel has no resource report; without PTX, an empty dump.
  ScopedEnv fail("FAKE_NVRTC_FAIL", "nvrtcGetProgramLog,nvrtcGetPTX");
  const std::unique_ptr<Kernel> k = compile(spec);
  const auto& cuda_kernel = dynamic_cast<const cuda::CudaKernel&>(*k);
  for (const cuda::PtxasReport* r : {&cuda_kernel.report(), &cuda_kernel.split_report(), &cuda_kernel.merge_report()})
    EXPECT_EQ(r->describe(), "no ptxas report");
  EXPECT_EQ(k->code_blobs()[1].size, 0u);
}

TEST(FakeNvrtc, ACompileOfMoreThanASecondSaysSoOnce) {
  ScopedEnv slow("FAKE_NVRTC_DELAY_MS", "1100");
  ::testing::internal::CaptureStderr();
  compile(R"({"dtype": "f16", "head_dim": 32, "num_heads": 7})");
  const std::string err = ::testing::internal::GetCapturedStderr();
  size_t lines = 0;
  for (size_t at = err.find("attngen: compiling cuda kernel "); at != std::string::npos; at = err.find("attngen: compiling", at + 1))
    ++lines;
  EXPECT_EQ(lines, 1u) << err;
  EXPECT_TRUE(contains(err, " with NVRTC (a few seconds; cached afterwards)...\n")) << err;
}

}  // namespace
}  // namespace attngen
