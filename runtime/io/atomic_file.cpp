#include "runtime/io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

#include "runtime/core/error.hpp"

namespace attngen {
namespace {

[[noreturn]] void fail(const std::string& action, const std::string& path, int err) {
  throw Error(action + " '" + path + "': " + std::strerror(err));
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

void write_file_atomic(const std::string& path, const void* data, size_t size) {
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; fd < 0; ++attempt) {
    tmp = temp_name(path);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && (errno != EEXIST || attempt == 8))
      fail("cannot create a temporary file to write", path, errno);
  }

  auto abandon = [&](const char* action, int err) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    fail(action, path, err);
  };

  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t done = 0; done < size;) {
    ssize_t n = ::write(fd, p + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      abandon("cannot write", errno);
    }
    done += size_t(n);
  }
  if (::fsync(fd) != 0) abandon("cannot sync", errno);
  int rc = ::close(fd);
  fd = -1;
  if (rc != 0) abandon("cannot close", errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) abandon("cannot replace", errno);
  sync_parent_dir(path);
}

std::vector<uint8_t> read_file(const std::string& path, const std::string& what) {
  auto fail_read = [&](int err) -> void {
    throw Error(what + ": cannot read '" + path + "': " + std::strerror(err));
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_read(errno);

  // Read straight into the result; the size from fstat is only a first guess
  // (pipes and /proc files report 0, and files may grow while we read).
  struct stat st;
  size_t cap = ::fstat(fd, &st) == 0 && st.st_size > 0 ? size_t(st.st_size) + 1 : 1 << 16;
  std::vector<uint8_t> out(cap);
  size_t len = 0;
  for (;;) {
    if (len == out.size()) out.resize(out.size() * 2);
    ssize_t n = ::read(fd, out.data() + len, out.size() - len);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      fail_read(err);
    }
    len += size_t(n);
  }
  out.resize(len);
  ::close(fd);
  return out;
}

}  // namespace attngen
