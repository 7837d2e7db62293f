#include "runtime/io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

#include "runtime/core/error.hpp"
#include "runtime/core/text.hpp"

namespace attngen {
namespace {

[[noreturn]] void fail(const std::string& action, const std::string& path, int err) {
  throw Error(action + " '" + printable(path, 200) + "': " + std::strerror(err));
}

std::string temp_name(const std::string& path) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char suffix[17];
  std::snprintf(suffix, sizeof suffix, "%016llx", static_cast<unsigned long long>(rng()));
  return path + ".tmp." + std::to_string(::getpid()) + "." + suffix;
}

// Makes the rename itself durable. Best effort: some filesystems refuse
// fsync on directories, and the data is already safe in the file.
void sync_parent_dir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

}  // namespace

int write_all(int fd, const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t done = 0; done < size;) {
    const ssize_t n = ::write(fd, p + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    done += size_t(n);
  }
  return 0;
}

TemporaryFile::TemporaryFile(const std::string& path, const void* data, size_t size, const struct stat* like)
    : path_(path) {
  int fd = -1;
  for (int attempt = 0; fd < 0; ++attempt) {
    tmp_ = temp_name(path);
    fd = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && (errno != EEXIST || attempt == 8)) {
      tmp_.clear();
      fail("cannot create a temporary file to write", path, errno);
    }
  }
  auto abandon = [&](const char* action, int err) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp_.c_str());
    tmp_.clear();
    fail(action, path, err);
  };
  if (like) {
    // The replacement keeps the permission bits (a 0600 file stays private)
    // and, where we may set it, the owner of the file it replaces.
    if (like->st_uid != ::geteuid() || like->st_gid != ::getegid()) {
      // Best effort: only root may give a file away; otherwise it becomes ours.
      [[maybe_unused]] const int chowned = ::fchown(fd, like->st_uid, like->st_gid);
    }
    if (::fchmod(fd, like->st_mode & 07777) != 0) abandon("cannot set the permissions of a temporary file to write", errno);
  }
  if (const int err = write_all(fd, data, size)) abandon("cannot write", err);
  if (::fsync(fd) != 0) abandon("cannot sync", errno);
  const int rc = ::close(fd);
  fd = -1;
  if (rc != 0) abandon("cannot close", errno);
}

TemporaryFile::~TemporaryFile() {
  if (!tmp_.empty()) ::unlink(tmp_.c_str());
}

void TemporaryFile::rename_over() {
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp_.c_str());
    tmp_.clear();
    fail("cannot replace", path_, err);
  }
  tmp_.clear();
  sync_parent_dir(path_);
}

void write_file_atomic(const std::string& path, const void* data, size_t size) {
  TemporaryFile(path, data, size).rename_over();
}

const char* file_kind(unsigned mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

std::vector<uint8_t> read_file(const std::string& path, const std::string& what, const ReadLimits& limits) {
  const std::string shown = printable(path, 200);
  auto fail_read = [&](const std::string& why) -> void {
    throw Error(what + ": cannot read '" + shown + "': " + why);
  };
  const int flags = O_RDONLY | O_CLOEXEC | (limits.regular_only ? O_NONBLOCK : 0) | (limits.no_follow ? O_NOFOLLOW : 0);
  int fd = ::open(path.c_str(), flags);
  if (fd < 0) {
    if (errno == ELOOP && limits.no_follow) fail_read("a symbolic link, not a regular file");
    fail_read(std::strerror(errno));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};

  struct stat st;
  const bool known = ::fstat(fd, &st) == 0;
  if (known && S_ISDIR(st.st_mode)) fail_read("is a directory, not a file");
  if (limits.regular_only && (!known || !S_ISREG(st.st_mode)))
    fail_read(std::string(known ? file_kind(st.st_mode) : "of unknown type") + ", not a regular file");
  auto too_large = [&] {
    throw FileTooLarge(what + ": cannot read '" + shown + "': larger than the limit of " +
                       std::to_string(limits.max_bytes) + " bytes");
  };
  if (known && S_ISREG(st.st_mode) && uint64_t(st.st_size) > limits.max_bytes) too_large();

  // Read straight into the result; the size from fstat is only a first guess
  // (pipes and /proc files report 0, and files may grow while we read). One
  // byte past the limit is enough to know that a file is too large.
  const uint64_t most = limits.max_bytes == UINT64_MAX ? UINT64_MAX : limits.max_bytes + 1;
  const uint64_t guess = known && st.st_size > 0 ? uint64_t(st.st_size) + 1 : 1 << 16;
  std::vector<uint8_t> out(size_t(std::min(guess, most)));
  size_t len = 0;
  for (;;) {
    if (len == out.size()) {
      if (len > limits.max_bytes) too_large();
      out.resize(size_t(std::min<uint64_t>(uint64_t(out.size()) * 2, most)));
    }
    const ssize_t n = ::read(fd, out.data() + len, out.size() - len);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_read(std::strerror(errno));
    }
    len += size_t(n);
  }
  if (len > limits.max_bytes) too_large();
  out.resize(len);
  return out;
}

}  // namespace attngen
