// The kernel cache: single-flight compiles, the LRU bound, the disk cache's
// validation (corrupted, truncated, foreign entries are rebuilt, never
// loaded), several processes sharing one directory, ATTNGEN_DISABLE_JIT,
// verbose lines and dumps. A fake backend with serialisable kernels stands in
// for the slow-to-build backends that the disk cache exists for.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <thread>

#include "codegen/spec/spec.hpp"
#include "runtime/cache/kernel_cache.hpp"
#include "runtime/core/version.hpp"
#include "runtime/io/atomic_file.hpp"
#include "runtime/reference/reference.hpp"
#include "runtime/x86/x86_backend.hpp"

namespace attngen {
namespace {

namespace fs = std::filesystem;

class FakeKernel final : public Kernel {
 public:
  FakeKernel(const Spec& s, std::vector<uint8_t> image) : Kernel(s, "fake", "fake-isa"), image_(std::move(image)) {}
  std::unique_ptr<CallPlan> plan_call(const BoundArgs&, int) const override { throw Error("fake kernels do not run"); }
  std::vector<uint8_t> serialize() const override { return serialisable ? image_ : std::vector<uint8_t>{}; }
  std::vector<CodeBlob> code_blobs() const override {
    return {{"code.bin", image_.data(), image_.size(), "i386:x86-64"}, {"source.txt", image_.data(), image_.size(), nullptr}};
  }
  bool serialisable = true;

 private:
  std::vector<uint8_t> image_;
};

class FakeBackend final : public Backend {
 public:
  std::string name() const override { return "fake"; }
  std::string isa() const override { return "fake-isa"; }
  bool serialises() const override { return serialisable; }
  std::unique_ptr<Kernel> compile(const Spec& spec) const override {
    ++compiles;
    if (delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    if (fail) throw Error("fake: compile failed");
    auto k = std::make_unique<FakeKernel>(spec, image(spec));
    k->serialisable = serialisable;
    return k;
  }
  std::unique_ptr<Kernel> deserialize(const Spec& spec, const std::vector<uint8_t>& img) const override {
    ++loads;
    return img == image(spec) ? std::make_unique<FakeKernel>(spec, img) : nullptr;
  }
  static std::vector<uint8_t> image(const Spec& spec) {
    const std::string s = "fake image of " + canonical_json(spec);
    return {s.begin(), s.end()};
  }
  mutable std::atomic<int> compiles{0}, loads{0};
  int delay_ms = 0;
  bool fail = false, serialisable = true;
};

Spec spec_with(int head_dim) {
  return parse_spec(R"({"dtype": "f32", "num_heads": 4, "head_dim": )" + std::to_string(head_dim) + "}");
}

class CacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/attngen-cache-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir = tmpl;
  }
  void TearDown() override { fs::remove_all(dir); }
  CacheConfig config(bool disk = true) const {
    CacheConfig c;
    c.dir = disk ? dir + "/cache" : "";
    return c;
  }
  // Kernel cache files (entries, locks, temporaries) in the cache directory.
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir + "/cache", ec)) out.push_back(e.path().filename().string());
    return out;
  }
  std::string dir;
  FakeBackend backend;
};

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

// Something other than an entry under an entry's name: a fresh cache must
// not hang on it, read it without bound or follow it; it compiles instead,
// logs why the "entry" was discarded, and stores a real entry in its place.
class HostileEntryTest : public CacheTest {
 protected:
  const Spec spec = spec_with(64);
  const std::string key = cache_key(spec_with(64), "fake", "fake-isa");
  std::string entry() const { return DiskCache(dir + "/cache").entry_path(key); }
  void SetUp() override {
    CacheTest::SetUp();
    fs::create_directories(dir + "/cache");
  }
  // get() on a fresh cache, within a deadline; returns the verbose log.
  std::string compile_fresh(KernelSource* source) {
    CacheConfig c = config();
    c.verbose = true;
    ::testing::internal::CaptureStderr();
    auto done = std::async(std::launch::async, [&] { KernelCache(c).get(spec, backend, source); });
    if (done.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
      // Unblock a reader stuck on the FIFO so that the test can end.
      const int fd = ::open(entry().c_str(), O_WRONLY | O_NONBLOCK);
      if (fd >= 0) ::close(fd);
      ADD_FAILURE() << "compiling hung on the entry";
    }
    done.get();
    return ::testing::internal::GetCapturedStderr();
  }
  void expect_replaced_by_a_valid_entry() const {
    std::string why;
    EXPECT_TRUE(DiskCache(dir + "/cache").load(key, &why)) << why;
    EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(entry())));
  }
};

TEST_F(HostileEntryTest, FifoIsDiscardedWithoutHanging) {
  ASSERT_EQ(::mkfifo(entry().c_str(), 0644), 0);
  KernelSource source;
  const std::string log = compile_fresh(&source);
  EXPECT_EQ(source, KernelSource::compiled);
  EXPECT_NE(log.find("cache entry discarded key=" + key + ": cache entry: cannot read '" + entry() +
                     "': a FIFO, not a regular file"),
            std::string::npos)
      << log;
  expect_replaced_by_a_valid_entry();
}

TEST_F(HostileEntryTest, SymlinkIsNotFollowed) {
  // A valid entry elsewhere: loading it through the link would "work", but an
  // entry is only ever the regular file under its own name.
  KernelCache(config()).get(spec, backend);
  fs::rename(entry(), dir + "/elsewhere.kernel");
  fs::create_symlink(dir + "/elsewhere.kernel", entry());
  KernelSource source;
  const std::string log = compile_fresh(&source);
  EXPECT_EQ(source, KernelSource::compiled);
  EXPECT_EQ(backend.compiles, 2);
  EXPECT_NE(log.find("': a symbolic link, not a regular file"), std::string::npos) << log;
  expect_replaced_by_a_valid_entry();
  EXPECT_TRUE(fs::exists(dir + "/elsewhere.kernel"));
}

TEST_F(HostileEntryTest, SymlinkToDevZeroIsNotRead) {
  fs::create_symlink("/dev/zero", entry());
  // In a child with a bounded address space: reading /dev/zero until memory
  // runs out must fail there, not on the machine.
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int status = 1;
    try {
      const rlimit as{size_t(1) << 30, size_t(1) << 30};
      ::setrlimit(RLIMIT_AS, &as);
      ::alarm(20);
      CacheConfig c = config();
      c.verbose = true;
      FakeBackend b;
      KernelSource source;
      ::testing::internal::CaptureStderr();
      KernelCache(c).get(spec, b, &source);
      const std::string log = ::testing::internal::GetCapturedStderr();
      if (source == KernelSource::compiled && log.find("a symbolic link, not a regular file") != std::string::npos)
        status = 0;
    } catch (...) {
    }
    ::_exit(status);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  expect_replaced_by_a_valid_entry();
}

TEST_F(HostileEntryTest, OversizedFileIsNotRead) {
  {
    std::ofstream f(entry());
  }
  fs::resize_file(entry(), kMaxEntryBytes + 1);  // sparse: no disk used
  KernelSource source;
  const std::string log = compile_fresh(&source);
  EXPECT_EQ(source, KernelSource::compiled);
  EXPECT_NE(log.find("': larger than the limit of 67108864 bytes"), std::string::npos) << log;
  expect_replaced_by_a_valid_entry();
}

TEST_F(HostileEntryTest, SymlinkedLockIsRefusedAndCompilingGoesOn) {
  const std::string victim = dir + "/victim";
  fs::create_symlink(victim, entry() + ".lock");
  KernelSource source;
  const std::string log = compile_fresh(&source);
  EXPECT_EQ(source, KernelSource::compiled);
  EXPECT_NE(log.find("disk cache unavailable: cache lock '" + entry() + ".lock': a symbolic link"), std::string::npos)
      << log;
  EXPECT_FALSE(fs::exists(victim)) << "the lock was opened through the link";
  expect_replaced_by_a_valid_entry();
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

// `cache clear` removes what the cache can prove is its own and nothing else:
// every *.lock and *.kernel once went, a project's Cargo.lock included.
TEST_F(CacheTest, ClearRemovesOnlyAttngensOwnFiles) {
  KernelCache(config()).get(spec_with(16), backend);
  KernelCache(config()).get(spec_with(32), backend);
  const DiskCache disk(dir + "/cache");
  const std::string entry = disk.entry_path(cache_key(spec_with(16), "fake", "fake-isa"));
  const std::string name = fs::path(entry).filename().string();
  write_file_atomic(entry + ".tmp.4242.0123456789abcdef", "ATTNGEN", 7);  // a crashed writer's temporary
  const std::map<std::string, std::string> foreign = {
      {"Cargo.lock", "# This file is automatically @generated by Cargo.\n"},
      {"x.kernel", "ATTNGEN\x1a but not named like an entry"},
      {"0123456789abcdef-00000000.kernel", "named like an entry, but not one"},
      {"0123456789abcdef-00000000.kernel.lock.bak", ""},
      {"0123456789ABCDEF-00000000.kernel", "ATTNGEN\x1a upper-case hex is not ours"},
      {name + ".tmp.12x.0123456789abcdef", ""},
      {"notes.txt", "mine"},
  };
  for (const auto& [file, text] : foreign) std::ofstream(dir + "/cache/" + file) << text;
  fs::create_symlink(dir + "/outside", dir + "/cache/fedcba9876543210-00000000.kernel");
  std::ofstream(dir + "/outside") << "a file the link points at";

  size_t ours = 0, theirs = 0;
  for (const DiskCache::Listing& l : disk.list()) {
    const bool is_foreign = foreign.count(l.file) || l.file == "fedcba9876543210-00000000.kernel";
    EXPECT_EQ(l.kind == DiskCache::Kind::foreign, is_foreign) << l.file << ": " << l.problem;
    (is_foreign ? theirs : ours) += 1;
  }
  EXPECT_EQ(ours, 5u);  // 2 entries, 2 locks, 1 temporary
  EXPECT_EQ(theirs, foreign.size() + 1);

  // A lock that a process holds (a build in progress) is kept as well.
  const DiskCache::KeyLock held = disk.lock(cache_key(spec_with(32), "fake", "fake-isa"));
  EXPECT_EQ(disk.clear().first, 4u);
  std::vector<std::string> left = files();
  std::sort(left.begin(), left.end());
  std::vector<std::string> want = {fs::path(disk.entry_path(cache_key(spec_with(32), "fake", "fake-isa"))).filename().string() + ".lock",
                                   "fedcba9876543210-00000000.kernel"};
  for (const auto& f : foreign) want.push_back(f.first);
  std::sort(want.begin(), want.end());
  EXPECT_EQ(left, want);
  for (const auto& [file, text] : foreign) {
    std::ifstream in(dir + "/cache/" + file);
    EXPECT_EQ(std::string((std::istreambuf_iterator<char>(in)), {}), text) << file;
  }
  EXPECT_TRUE(fs::exists(dir + "/outside"));
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
}  // namespace attngen
