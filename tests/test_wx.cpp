// W^X: generated code is never writable and executable at once (the x86
// backend's and the llvm backend's). Several
// threads compile and run different specs (through the public API; a small
// in-memory cache makes kernels drop out and come back from the disk cache,
// so both the JIT buffers and the mapped disk images are exercised) while
// another thread reads /proc/self/maps over and over; any mapping ever seen
// with both 'w' and 'x' fails the test.
#include <gtest/gtest.h>

#include <attngen/attngen.hpp>

#include <atomic>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace ag = attngen::api;

// Before the first compile of the process: a fresh disk cache (so the first
// compile of each spec generates code) and room for two kernels in memory.
const bool env_set = [] {
  const std::string dir = std::string(ATTNGEN_WX_CACHE_DIR);
  std::filesystem::remove_all(dir);
  setenv("ATTNGEN_CACHE_DIR", dir.c_str(), 1);
  setenv("ATTNGEN_CACHE_CAPACITY", "2", 1);
  return true;
}();

struct Maps {
  std::vector<std::string> writable_and_executable;
  size_t anonymous_executable = 0;  // r-x mappings without a file: generated code
};

Maps read_maps() {
  Maps m;
  std::ifstream in("/proc/self/maps");
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string range, perms, offset, dev, inode, path;
    fields >> range >> perms >> offset >> dev >> inode >> path;
    if (perms.size() < 3) continue;
    if (perms[1] == 'w' && perms[2] == 'x') m.writable_and_executable.push_back(line);
    if (perms[2] == 'x' && path.empty()) ++m.anonymous_executable;
  }
  return m;
}

const char* kSpecs[] = {
    R"({"dtype": "f32", "head_dim": 16, "num_heads": 2, "mask": [{"type": "causal", "align": "top_left"}]})",
    R"({"dtype": "f16", "head_dim": 24, "num_heads": 4, "num_kv_heads": 2, "mask": [{"type": "causal", "align": "bottom_right"}]})",
    R"({"dtype": "bf16", "head_dim": 32, "num_heads": 2, "mask": [{"type": "sliding_window", "left": 5, "right": 0, "align": "bottom_right"}]})",
    R"({"dtype": "f32", "head_dim": 40, "num_heads": 2, "layout": "bshd", "return_lse": true})",
    R"({"dtype": "bf16", "head_dim": 8, "num_heads": 1, "score_mod": [{"type": "softcap", "cap": 30}]})",
};

// One run of `k` on random inputs (B 1, Sq 13, Skv 29).
void run_once(const ag::Kernel& k, std::mt19937& rng) {
  const attngen_kernel_info info = k.info();
  const int64_t B = 1, Sq = 13, Skv = 29, H = info.num_heads, Hkv = info.num_kv_heads, D = info.head_dim,
                Dv = info.head_dim_v;
  const size_t es = info.dtype == ATTNGEN_F32 ? 4 : 2;
  std::uniform_int_distribution<int> bits(0x3c00, 0x3e00);  // f16 values in [1, 2), bf16 values near 0
  auto buffer = [&](int64_t n) {
    std::vector<uint8_t> b(size_t(n) * es);
    if (es == 4) {
      std::normal_distribution<float> d;
      for (size_t i = 0; i < b.size(); i += 4) {
        const float x = d(rng);
        std::memcpy(&b[i], &x, 4);
      }
    } else {
      for (size_t i = 0; i < b.size(); i += 2) {
        const uint16_t x = uint16_t(bits(rng));
        std::memcpy(&b[i], &x, 2);
      }
    }
    return b;
  };
  std::vector<uint8_t> q = buffer(B * H * Sq * D), kk = buffer(B * Hkv * Skv * D), v = buffer(B * Hkv * Skv * Dv),
                       o(size_t(B * H * Sq * Dv) * es);
  std::vector<float> lse(size_t(B * H * Sq));
  auto view = [&](const void* data, int64_t h, int64_t s, int64_t d) {
    const int64_t shape[4] = {B, info.layout_bshd ? s : h, info.layout_bshd ? h : s, d};
    return attngen_tensor_contiguous(data, info.dtype, 4, shape);
  };
  attngen_args a{};
  a.q = view(q.data(), H, Sq, D);
  a.k = view(kk.data(), Hkv, Skv, D);
  a.v = view(v.data(), Hkv, Skv, Dv);
  a.o = view(o.data(), H, Sq, Dv);
  if (info.writes_lse) a.lse = ag::tensor(lse.data(), ATTNGEN_F32, {B, H, Sq});
  k.run(a, 1 + int(rng() % 2));
}

TEST(WriteXorExecute, NoMappingIsEverWritableAndExecutable) {
  ASSERT_TRUE(env_set);
  if (ag::Kernel::compile(kSpecs[0]).backend() != "x86") GTEST_SKIP() << "no x86 backend here: no generated code";
  // Both code generators: Xbyak's buffers and the objects LLVM's JIT links (where built).
  std::vector<std::string> backends = {"x86"};
  try {
    ag::Kernel::compile(kSpecs[0], "llvm");
    backends.push_back("llvm");
  } catch (const std::exception&) {
  }
  const Maps before = read_maps();
  ASSERT_TRUE(before.writable_and_executable.empty()) << before.writable_and_executable[0];

  constexpr int kWorkers = 3, kRounds = 30;
  std::atomic<int> running{kWorkers};
  std::atomic<size_t> checks{0}, max_exec{0};
  std::vector<std::string> seen;  // written by the checker only
  std::thread checker([&] {
    while (running.load() > 0) {
      Maps m = read_maps();
      ++checks;
      if (m.anonymous_executable > max_exec) max_exec = m.anonymous_executable;
      for (std::string& line : m.writable_and_executable)
        if (seen.size() < 20) seen.push_back(std::move(line));
    }
  });
  std::vector<std::string> errors(kWorkers);
  std::vector<std::thread> workers;
  for (int t = 0; t < kWorkers; ++t)
    workers.emplace_back([&, t] {
      std::mt19937 rng(unsigned(t + 1));
      try {
        for (int r = 0; r < kRounds; ++r) {
          const std::string& backend = backends[size_t(t) % backends.size()];
          ag::Kernel k = ag::Kernel::compile(kSpecs[size_t(r + t) % std::size(kSpecs)], backend);
          run_once(k, rng);
        }
      } catch (const std::exception& e) {
        errors[size_t(t)] = e.what();
      }
      --running;
    });
  for (auto& w : workers) w.join();
  checker.join();
  for (const std::string& e : errors) EXPECT_EQ(e, "");
  EXPECT_GE(checks.load(), 10u) << "the maps were hardly read while kernels were built";
  EXPECT_GE(max_exec.load(), 1u) << "no generated code was ever seen mapped";
  for (const std::string& line : seen) ADD_FAILURE() << "writable and executable: " << line;
  EXPECT_TRUE(read_maps().writable_and_executable.empty());
}

}  // namespace
