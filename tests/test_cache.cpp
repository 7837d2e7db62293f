// The kernel cache: single-flight compiles, the LRU bound, the disk cache's
// validation (corrupted, truncated, foreign entries are rebuilt, never
// loaded), several processes sharing one directory, ATTNGEN_DISABLE_JIT,
// verbose lines and dumps, with the fake serialising backend of
// cache_fixture.hpp. Files in the cache directory that are not entries:
// test_cache_files.cpp.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "runtime/core/version.hpp"
#include "runtime/io/atomic_file.hpp"
#include "runtime/reference/reference.hpp"
#include "runtime/x86/x86_backend.hpp"
#include "tests/cache_fixture.hpp"

namespace attngen::cache_test {
namespace {

TEST_F(CacheTest, SixteenThreadsAskingForOneNewKeyCompileItOnce) {
  KernelCache cache(config(false));
  backend.delay_ms = 100;  // everyone arrives while the first compile runs
  const Spec spec = spec_with(64);
  std::vector<std::shared_ptr<const Kernel>> got(16);
  std::vector<KernelSource> sources(16);
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t)
    threads.emplace_back([&, t] {
      while (!go) std::this_thread::yield();
      got[size_t(t)] = cache.get(spec, backend, &sources[size_t(t)]);
    });
  go = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(backend.compiles, 1);
  int compiled = 0;
  for (int t = 0; t < 16; ++t) {
    EXPECT_EQ(got[size_t(t)], got[0]);
    compiled += sources[size_t(t)] == KernelSource::compiled;
  }
  EXPECT_EQ(compiled, 1);
}

TEST_F(CacheTest, CompileErrorReachesEveryWaiterAndIsNotCached) {
  KernelCache cache(config(false));
  backend.delay_ms = 50;
  backend.fail = true;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      try {
        cache.get(spec_with(64), backend);
      } catch (const Error& e) {
        errors += std::string(e.what()) == "fake: compile failed";
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors, 4);
  EXPECT_LE(backend.compiles, 4);
  backend.fail = false;
  const int before = backend.compiles;
  EXPECT_NE(cache.get(spec_with(64), backend), nullptr);
  EXPECT_EQ(backend.compiles, before + 1);
}

TEST_F(CacheTest, MemoryCacheIsBoundedLeastRecentlyUsedFirst) {
  CacheConfig c = config(false);
  c.capacity = 2;
  KernelCache cache(c);
  cache.get(spec_with(16), backend);
  cache.get(spec_with(32), backend);
  cache.get(spec_with(16), backend);  // 16 is now the most recent
  cache.get(spec_with(48), backend);  // evicts 32
  EXPECT_EQ(cache.memory().size(), 2u);
  EXPECT_EQ(backend.compiles, 3);
  cache.get(spec_with(16), backend);
  EXPECT_EQ(backend.compiles, 3);
  cache.get(spec_with(32), backend);
  EXPECT_EQ(backend.compiles, 4);
}

TEST_F(CacheTest, RepeatedSpecTextSkipsParsingAndFindsTheSameKernel) {
  KernelCache cache(config(false));
  const std::string text = R"({"dtype": "f32", "num_heads": 2, "head_dim": 8})";
  KernelSource s1, s2;
  auto a = cache.get(text, "reference", &s1);
  auto b = cache.get(text, "reference", &s2);
  EXPECT_EQ(a, b);
  EXPECT_EQ(s1, KernelSource::compiled);
  EXPECT_EQ(s2, KernelSource::memory);
  EXPECT_THROW(cache.get(std::string("{"), "reference"), SpecError);
  EXPECT_THROW(cache.get(text, "no-such-backend"), BackendError);
}

TEST_F(CacheTest, DiskEntryIsReloadedByAFreshProcessCache) {
  const Spec spec = spec_with(64);
  KernelSource source;
  KernelCache(config()).get(spec, backend, &source);
  EXPECT_EQ(source, KernelSource::compiled);
  const std::string key = cache_key(spec, "fake", "fake-isa");
  ASSERT_TRUE(fs::exists(DiskCache(dir + "/cache").entry_path(key)));
  KernelCache second(config());
  auto k = second.get(spec, backend, &source);
  EXPECT_EQ(source, KernelSource::disk);
  EXPECT_EQ(backend.compiles, 1);
  EXPECT_EQ(backend.loads, 1);
  EXPECT_EQ(k->key(), key);
  EXPECT_EQ(k->serialize(), FakeBackend::image(spec));
}

// Damages the disk entry of spec_with(64), then checks that a fresh cache
// discards it (saying why), rebuilds it, and leaves a valid entry behind.
class DamagedEntryTest : public CacheTest {
 protected:
  void check_rebuilt(const std::function<void(const std::string& path)>& damage, const std::string& why) {
    const Spec spec = spec_with(64);
    KernelCache(config()).get(spec, backend);
    const DiskCache disk(dir + "/cache");
    const std::string key = cache_key(spec, "fake", "fake-isa");
    damage(disk.entry_path(key));
    CacheConfig c = config();
    c.verbose = true;
    KernelCache fresh(c);
    KernelSource source;
    ::testing::internal::CaptureStderr();
    fresh.get(spec, backend, &source);
    const std::string log = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(source, KernelSource::compiled);
    EXPECT_EQ(backend.compiles, 2);
    EXPECT_NE(log.find("cache entry discarded key=" + key), std::string::npos) << log;
    EXPECT_NE(log.find(why), std::string::npos) << log;
    std::string problem;
    EXPECT_TRUE(disk.load(key, &problem)) << problem;
  }
  static std::vector<uint8_t> bytes(const std::string& path) { return read_file(path, "test"); }
  static void put(const std::string& path, const std::vector<uint8_t>& b) { write_file_atomic(path, b.data(), b.size()); }
};

TEST_F(DamagedEntryTest, CorruptedPayloadIsRebuilt) {
  check_rebuilt([](const std::string& p) {
    auto b = bytes(p);
    b[b.size() - 12] ^= 0x40;
    put(p, b);
  }, "checksum mismatch");
}

TEST_F(DamagedEntryTest, TruncatedEntryIsRebuilt) {
  check_rebuilt([](const std::string& p) {
    auto b = bytes(p);
    b.resize(b.size() / 2);
    put(p, b);
  }, "truncated");
}

TEST_F(DamagedEntryTest, EmptyEntryIsRebuilt) {
  check_rebuilt([](const std::string& p) { put(p, {}); }, "truncated");
}

TEST_F(DamagedEntryTest, ForeignGeneratorVersionIsRebuilt) {
  check_rebuilt([](const std::string& p) {
    DiskEntry e = decode_entry(bytes(p));
    e.generator = "gen-0";
    put(p, encode_entry(e));
  }, "generator gen-0");
}

TEST_F(DamagedEntryTest, ForeignToolchainIsRebuilt) {
  check_rebuilt([](const std::string& p) {
    DiskEntry e = decode_entry(bytes(p));
    e.toolchain = "some other compiler";
    put(p, encode_entry(e));
  }, "toolchain 'some other compiler'");
}

TEST_F(DamagedEntryTest, EntryOfAnotherKeyIsRebuilt) {
  check_rebuilt([](const std::string& p) {
    DiskEntry e = decode_entry(bytes(p));
    e.spec = canonical_json(spec_with(32));  // consistent checksum, wrong content
    put(p, encode_entry(e));
  }, "do not hash to its key");
}

TEST_F(DamagedEntryTest, ImageTheBackendRefusesIsRebuilt) {
  check_rebuilt([](const std::string& p) {
    DiskEntry e = decode_entry(bytes(p));
    e.payload = {1, 2, 3};
    put(p, encode_entry(e));
  }, "could not load it");
}

TEST_F(CacheTest, DecodeNamesWhatIsWrong) {
  const DiskEntry e{kGeneratorVersion, toolchain_id(), "fake", "fake-isa", "0123456789abcdef", "{}", {9, 8, 7}};
  std::vector<uint8_t> b = encode_entry(e);
  EXPECT_EQ(decode_entry(b).payload, e.payload);
  auto message = [](std::vector<uint8_t> bytes) {
    try {
      decode_entry(bytes);
    } catch (const Error& err) {
      return std::string(err.what());
    }
    return std::string("no error");
  };
  std::vector<uint8_t> bad = b;
  bad[0] = 'X';
  EXPECT_NE(message(bad).find("bad magic"), std::string::npos);
  EXPECT_NE(message({b.begin(), b.begin() + 20}).find("truncated"), std::string::npos);
  bad = b;
  bad.push_back(0);
  EXPECT_NE(message(bad).find("after the checksum"), std::string::npos);
}

// An entry's strings are bytes from a file: the reasons it is discarded (the
// verbose log, `cache ls`) escape them (fuzz_cache_entry found raw bytes).
TEST_F(CacheTest, EntryStringsAreEscapedInReasons) {
  const DiskCache cache(dir + "/escaped");
  const std::string key = "0123456789abcdef";
  DiskEntry e{"g\xf7n\x01", toolchain_id(), "fake", "fake-isa", key, "{}", {1}};
  std::string why;
  cache.store(e);
  EXPECT_FALSE(cache.load(key, &why));
  EXPECT_EQ(why, std::string("generator g\\xf7n\\x01, this library is ") + kGeneratorVersion);
  e.generator = kGeneratorVersion, e.toolchain = "cc \x1b[31m";
  cache.store(e);
  EXPECT_FALSE(cache.load(key, &why));
  EXPECT_EQ(why, "toolchain 'cc \\x1b[31m', this library is '" + toolchain_id() + "'");
  e.toolchain = toolchain_id(), e.key = "\xff";
  write_file_atomic(cache.entry_path(key), encode_entry(e).data(), encode_entry(e).size());
  EXPECT_FALSE(cache.load(key, &why));
  EXPECT_EQ(why, "entry of key \\xff");
}

// Two processes fill one directory at once, each compiling the same keys in
// the same order: every key is compiled once in all (the per-key lock), and
// every entry left behind is valid.
TEST_F(CacheTest, TwoProcessesFillingOneDirectoryLeaveValidEntries) {
  constexpr int kKeys = 12;
  pid_t pids[2];
  for (pid_t& pid : pids) {
    pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int status = 100;
      try {
        FakeBackend b;
        b.delay_ms = 20;
        KernelCache cache(config());
        for (int i = 0; i < kKeys; ++i) cache.get(spec_with(8 * (i + 1)), b);
        status = b.compiles;
      } catch (...) {
      }
      ::_exit(status);
    }
  }
  int compiles = 0;
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_LE(WEXITSTATUS(status), kKeys);
    compiles += WEXITSTATUS(status);
  }
  EXPECT_EQ(compiles, kKeys);
  const DiskCache disk(dir + "/cache");
  for (int i = 0; i < kKeys; ++i) {
    std::string why;
    EXPECT_TRUE(disk.load(cache_key(spec_with(8 * (i + 1)), "fake", "fake-isa"), &why)) << why;
  }
  size_t entries = 0;
  for (const DiskCache::Listing& l : disk.list()) {
    EXPECT_EQ(l.file.find(".tmp."), std::string::npos) << l.file;
    entries += l.entry && l.problem.empty();
  }
  EXPECT_EQ(entries, size_t(kKeys));
  EXPECT_EQ(disk.clear().first, size_t(2 * kKeys));  // entries + lock files
  EXPECT_TRUE(disk.list().empty());
}

TEST_F(CacheTest, DisableJitUsesCachedKernelsOnlyAndNamesTheMissingKey) {
  CacheConfig c = config();
  c.disable_jit = true;
  const Spec spec = spec_with(64);
  const std::string key = cache_key(spec, "fake", "fake-isa");
  try {
    KernelCache(c).get(spec, backend);
    FAIL() << "no error";
  } catch (const JitDisabledError& e) {
    EXPECT_NE(std::string(e.what()).find("ATTNGEN_DISABLE_JIT=1: kernel " + key), std::string::npos) << e.what();
  }
  EXPECT_EQ(backend.compiles, 0);
  KernelCache(config()).get(spec, backend);  // ahead of time
  KernelSource source;
  KernelCache(c).get(spec, backend, &source);
  EXPECT_EQ(source, KernelSource::disk);
  EXPECT_EQ(backend.compiles, 1);
}

// Modules of no spec (the CUDA merge of partial states): built once, stored
// under module_key with an empty spec, loaded by a fresh process cache;
// ATTNGEN_DISABLE_JIT=1 forbids the build and names the module; an entry
// whose module or ISA was altered does not hash to its key and is rebuilt.
TEST_F(CacheTest, ModulesOfNoSpecAreStoredAndReloadedByTheirKey) {
  int builds = 0;
  const auto build = [&] {
    ++builds;
    return std::vector<uint8_t>{1, 2, 3};
  };
  CacheConfig no_jit = config();
  no_jit.disable_jit = true;
  try {
    KernelCache(no_jit).module("fake_module", "isa-1", build);
    FAIL() << "no error";
  } catch (const JitDisabledError& e) {
    EXPECT_NE(std::string(e.what()).find("ATTNGEN_DISABLE_JIT=1: module fake_module (isa isa-1, key " +
                                         module_key("fake_module", "isa-1")),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(builds, 0);
  EXPECT_EQ(KernelCache(config()).module("fake_module", "isa-1", build), (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_EQ(KernelCache(no_jit).module("fake_module", "isa-1", build), (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_EQ(builds, 1);
  KernelCache(config()).module("fake_module", "isa-2", build);  // another ISA: another key
  EXPECT_EQ(builds, 2);

  const std::string key = module_key("fake_module", "isa-1");
  EXPECT_NE(key, module_key("fake_module", "isa-2"));
  const DiskCache disk(config().dir);
  std::string why;
  std::optional<DiskEntry> e = disk.load(key, &why);
  ASSERT_TRUE(e) << why;
  EXPECT_EQ(e->spec, "");
  e->isa = "isa-9";  // no longer what its key says
  const std::vector<uint8_t> altered = encode_entry(*e);
  write_file_atomic(disk.entry_path(key), altered.data(), altered.size());
  EXPECT_FALSE(disk.load(key, &why));
  EXPECT_EQ(why, "its module and ISA do not hash to its key");
  KernelCache(config()).module("fake_module", "isa-1", build);
  EXPECT_EQ(builds, 3);
}

// ATTNGEN_DISABLE_JIT=1 with a backend that never serialises: no cache can
// ever hold its kernels, so the message says JIT must stay enabled for it
// instead of suggesting an ahead-of-time compile that cannot work.
TEST_F(CacheTest, DisableJitOnAJitOnlyBackendSaysJitMustStayEnabled) {
  backend.serialisable = false;
  CacheConfig c = config();
  c.disable_jit = true;
  const std::string key = cache_key(spec_with(64), "fake", "fake-isa");
  try {
    KernelCache(c).get(spec_with(64), backend);
    FAIL() << "no error";
  } catch (const JitDisabledError& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("ATTNGEN_DISABLE_JIT=1: kernel " + key + " (backend fake, isa fake-isa) is in no cache, and "
                         "backend fake kernels cannot be cached: they are only ever compiled at run time, so JIT must "
                         "stay enabled for this backend (unset ATTNGEN_DISABLE_JIT",
                         0),
              0u)
        << what;
    EXPECT_EQ(what.find("ahead of time"), std::string::npos) << what;
  }
  EXPECT_EQ(backend.compiles, 0);
  EXPECT_TRUE(files().empty());
  // And the reference backend is such a backend.
  EXPECT_FALSE(reference_backend().serialises());
}

TEST_F(CacheTest, JitOnlyKernelsLeaveNothingOnDisk) {
  backend.serialisable = false;
  KernelCache cache(config());
  cache.get(spec_with(16), backend);
  cache.get(spec_with(32), backend);
  EXPECT_TRUE(files().empty());
  EXPECT_EQ(backend.compiles, 2);
  EXPECT_EQ(backend.loads, 0);
}

// A backend that says it serialises but whose kernels come back without an
// image is remembered as JIT-only: its lock file is removed, and later
// compiles leave nothing on disk either.
TEST_F(CacheTest, KernelWithoutAnImageMakesItsBackendJitOnly) {
  backend.kernel_images = false;
  KernelCache cache(config());
  cache.get(spec_with(16), backend);
  EXPECT_TRUE(files().empty());
  EXPECT_EQ(backend.loads, 0);
  cache.get(spec_with(32), backend);
  EXPECT_TRUE(files().empty());
  EXPECT_EQ(backend.compiles, 2);
}

// A cache directory that cannot be created (a file is in the way): every
// kernel is still compiled and returned, and the verbose log says why the
// disk was not used.
TEST_F(CacheTest, UnusableCacheDirectoryStillCompilesAndSaysWhy) {
  std::ofstream(dir + "/cache") << "not a directory";
  CacheConfig c = config();
  c.verbose = true;
  KernelCache cache(c);
  KernelSource source = KernelSource::memory;
  ::testing::internal::CaptureStderr();
  const auto k = cache.get(spec_with(64), backend, &source);
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(source, KernelSource::compiled);
  EXPECT_STREQ(source_name(source), "compiled");
  for (const std::string& want : {"attngen: disk cache unavailable: cache directory '" + dir + "/cache': cannot create: ",
                                  "attngen: cache store (disk) failed: cache directory '" + dir + "/cache': cannot create: "})
    EXPECT_NE(log.find(want), std::string::npos) << "missing: " << want << "\nin:\n" << log;
  EXPECT_EQ(cache.get(spec_with(64), backend, &source), k);
  EXPECT_EQ(source, KernelSource::memory);
  EXPECT_STREQ(source_name(source), "memory cache");
  EXPECT_EQ(backend.compiles, 1);
}

// A backend that throws while loading an entry: the entry is deleted, the
// reason is logged, the kernel is compiled and stored again.
TEST_F(CacheTest, BackendThrowingOnLoadDiscardsTheEntryWithItsReason) {
  KernelCache(config()).get(spec_with(64), backend);
  backend.load_throws = true;
  CacheConfig c = config();
  c.verbose = true;
  KernelSource source = KernelSource::memory;
  ::testing::internal::CaptureStderr();
  KernelCache(c).get(spec_with(64), backend, &source);
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(source, KernelSource::compiled);
  EXPECT_EQ(backend.compiles, 2);
  const std::string key = cache_key(spec_with(64), "fake", "fake-isa");
  const std::string want =
      "attngen: cache entry discarded key=" + key + ": backend fake could not load it: fake: cannot load this image\n";
  EXPECT_NE(log.find(want), std::string::npos) << log;
  backend.load_throws = false;
  KernelCache(config()).get(spec_with(64), backend, &source);
  EXPECT_EQ(source, KernelSource::disk);
  EXPECT_STREQ(source_name(source), "disk cache");
}

// Clearing the memory cache drops every kernel: the next request reloads it
// from disk.
TEST_F(CacheTest, ClearingTheMemoryCacheReloadsFromDisk) {
  KernelCache cache(config());
  const auto k = cache.get(spec_with(64), backend);
  cache.get(spec_with(32), backend);
  EXPECT_EQ(cache.memory().size(), 2u);
  cache.memory().clear();
  EXPECT_EQ(cache.memory().size(), 0u);
  KernelSource source = KernelSource::memory;
  EXPECT_NE(cache.get(spec_with(64), backend, &source), k);
  EXPECT_EQ(source, KernelSource::disk);
  EXPECT_EQ(backend.compiles, 2);
  EXPECT_EQ(backend.loads, 1);
}

// ATTNGEN_CACHE_CAPACITY: a positive decimal integer, else a warning and the default.
TEST(CacheConfigTest, CapacityFromTheEnvironment) {
  const size_t fallback = CacheConfig{}.capacity;
  struct Case {
    const char* value;
    size_t capacity;
  };
  for (const Case& c : {Case{"7", 7}, Case{"12x", fallback}, Case{"0", fallback}, Case{"-3", fallback},
                        Case{"", fallback}}) {
    ASSERT_EQ(::setenv("ATTNGEN_CACHE_CAPACITY", c.value, 1), 0);
    ::testing::internal::CaptureStderr();
    EXPECT_EQ(CacheConfig::from_env().capacity, c.capacity) << c.value;
    const std::string err = ::testing::internal::GetCapturedStderr();
    if (c.capacity == fallback && *c.value)
      EXPECT_EQ(err, "attngen: warning: ATTNGEN_CACHE_CAPACITY='" + std::string(c.value) +
                         "' is not a positive integer; using " + std::to_string(fallback) + "\n");
    else
      EXPECT_EQ(err, "") << c.value;
  }
  ::unsetenv("ATTNGEN_CACHE_CAPACITY");
}

TEST_F(CacheTest, VerboseLinesForCompilesAndHits) {
  CacheConfig c = config();
  c.verbose = true;
  KernelCache cache(c);
  const std::string key = cache_key(spec_with(64), "fake", "fake-isa");
  ::testing::internal::CaptureStderr();
  cache.get(spec_with(64), backend);
  cache.get(spec_with(64), backend);
  KernelCache(c).get(spec_with(64), backend);
  const std::string log = ::testing::internal::GetCapturedStderr();
  for (const std::string& want :
       {"attngen: cache miss (memory) key=" + key + " backend=fake\n", "attngen: cache miss (disk) key=" + key + "\n",
        "attngen: compile key=" + key + " backend=fake isa=fake-isa ms=", "attngen: cache hit (memory) key=" + key + "\n",
        "attngen: cache store (disk) key=" + key, "attngen: cache hit (disk) key=" + key + "\n"})
    EXPECT_NE(log.find(want), std::string::npos) << "missing: " << want << "\nin:\n" << log;
}

TEST_F(CacheTest, DumpWritesWhatTheCompileGeneratedNamedByKey) {
  CacheConfig c = config(false);
  c.dump_dir = dir + "/dump";
  KernelCache(c).get(spec_with(64), backend);
  const std::string base = dir + "/dump/" + cache_key(spec_with(64), "fake", "fake-isa") + ".";
  EXPECT_TRUE(fs::exists(base + "spec.json"));
  EXPECT_TRUE(fs::exists(base + "code.bin"));
  EXPECT_TRUE(fs::exists(base + "source.txt"));
  EXPECT_FALSE(fs::exists(base + "source.txt.s"));
  if (std::system("objdump --version >/dev/null 2>&1") == 0) {
    EXPECT_TRUE(fs::exists(base + "code.bin.s"));
  }
}

TEST_F(CacheTest, X86KernelsAreDumpedWithDisassembly) {
  const Backend& x86 = x86_backend();
  if (!x86.unavailable_reason().empty()) GTEST_SKIP() << x86.unavailable_reason();
  CacheConfig c = config(false);
  c.dump_dir = dir + "/dump";
  const Spec spec = spec_with(64);
  const auto k = KernelCache(c).get(spec, x86);
  const std::string base = dir + "/dump/" + k->key() + ".";
  for (const char* blob : {"qk_gemm.bin", "pv_gemm.bin", "softmax_full.bin", "softmax_partial.bin"}) {
    EXPECT_GT(fs::file_size(base + blob), 16u) << blob;
    if (std::system("objdump --version >/dev/null 2>&1") == 0) {
      std::ifstream s(base + blob + ".s");
      const std::string text((std::istreambuf_iterator<char>(s)), {});
      EXPECT_NE(text.find("ret"), std::string::npos) << blob;
    }
  }
}

}  // namespace
}  // namespace attngen::cache_test
