// The disk cache's directory holds more than attngen's entries: what a user
// or another program put there. Something other than an entry under an
// entry's name (a FIFO, a link, a huge file) is discarded without hanging or
// being read; `cache clear` removes only what the cache can prove is its own.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <future>
#include <map>

#include "runtime/io/atomic_file.hpp"
#include "tests/cache_fixture.hpp"

// ASan and TSan reserve terabytes of address space for their shadow memory,
// so a process under them cannot live with RLIMIT_AS; there the runtime's own
// hard_rss_limit_mb (scripts/sanitizer-env.sh) bounds memory instead.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ATTNGEN_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define ATTNGEN_TEST_SANITIZED 1
#endif
#endif

namespace attngen::cache_test {
namespace {

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
#ifndef ATTNGEN_TEST_SANITIZED
      const rlimit as{size_t(1) << 30, size_t(1) << 30};
      ::setrlimit(RLIMIT_AS, &as);
#endif
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

}  // namespace
}  // namespace attngen::cache_test
