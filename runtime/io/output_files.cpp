#include "runtime/io/output_files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "runtime/core/error.hpp"
#include "runtime/core/text.hpp"
#include "runtime/io/atomic_file.hpp"

namespace attngen {
namespace {

std::string parent_dir(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

std::string base_name(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string real_path(const std::string& path) {
  char buf[PATH_MAX];
  return ::realpath(path.c_str(), buf) ? std::string(buf) : std::string();
}

// Where writing `path` creates a file when nothing exists there: at the end
// of a chain of dangling symbolic links (a shell redirection creates the
// link's target too), as an absolute path with the directory's links
// resolved; "" when that directory does not exist.
std::string resolve_missing(const std::string& path) {
  std::string p = path;
  for (int hops = 0; hops < 40; ++hops) {
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) break;
    char buf[PATH_MAX];
    const ssize_t n = ::readlink(p.c_str(), buf, sizeof buf);
    if (n <= 0 || size_t(n) >= sizeof buf) break;
    const std::string to(buf, size_t(n));
    p = to[0] == '/' ? to : parent_dir(p) + "/" + to;
  }
  const std::string dir = real_path(parent_dir(p));
  return dir.empty() ? "" : (dir == "/" ? "" : dir) + "/" + base_name(p);
}

std::string shown(const std::string& label, const std::string& path) {
  return (label.empty() ? "" : label + " ") + "'" + printable(path, 200) + "'";
}

}  // namespace

OutputFiles::File OutputFiles::identify(const std::string& label, const std::string& path) {
  File f;
  f.label = label;
  f.path = path;
  f.exists = ::stat(path.c_str(), &f.st) == 0;
  f.error = f.exists ? 0 : errno;
  f.resolved = f.exists ? real_path(path) : resolve_missing(path);
  return f;
}

void OutputFiles::check_distinct(const File& out) const {
  // A character device (/dev/null) takes any number of writes without loss.
  if (out.exists && S_ISCHR(out.st.st_mode)) return;
  auto same = [](const File& a, const File& b) {
    if (a.exists && b.exists) return a.st.st_dev == b.st.st_dev && a.st.st_ino == b.st.st_ino;
    return !a.resolved.empty() && a.resolved == b.resolved;
  };
  for (const File& in : inputs_)
    if (same(out, in))
      throw Error(shown(out.label, out.path) + ": the same file as the input " + shown(in.label, in.path) +
                  "; an output may not replace an input, name another file");
  for (const Output& o : outputs_)
    if (same(out, o.file))
      throw Error(shown(out.label, out.path) + ": the same file as " + shown(o.file.label, o.file.path) +
                  "; each output needs a file of its own");
}

void OutputFiles::add_input(const std::string& label, const std::string& path) {
  inputs_.push_back(identify(label, path));
}

size_t OutputFiles::add_output(const std::string& label, const std::string& path) {
  Output o;
  o.file = identify(label, path);
  const File& f = o.file;
  auto fail = [&](const std::string& why) { throw Error(shown(label, path) + ": " + why); };
  if (path.empty()) fail("an empty file name");
  if (f.exists) {
    const mode_t m = f.st.st_mode;
    if (S_ISDIR(m) || S_ISSOCK(m)) fail(std::string("is ") + file_kind(m) + "; name a file to write");
    if (!S_ISREG(m)) o.mode = Mode::through, o.target = path;
    else if (f.st.st_nlink > 1) o.mode = Mode::in_place, o.target = path;
    else o.mode = Mode::replace, o.target = f.resolved.empty() ? path : f.resolved;
  } else {
    if (f.error != ENOENT) fail(std::strerror(f.error));
    o.mode = Mode::create;
    o.target = f.resolved;
    if (o.target.empty()) {
      // Say why the directory will not do, as open() would.
      struct stat st;
      const std::string dir = parent_dir(path);
      fail("cannot create it in directory '" + printable(dir, 200) + "': " +
           (::stat(dir.c_str(), &st) != 0 ? std::strerror(errno) : std::strerror(ENOTDIR)));
    }
  }
  check_distinct(f);
  // Permissions now, rather than after a long computation.
  if (o.mode == Mode::create || o.mode == Mode::replace) {
    const std::string dir = parent_dir(o.target);
    if (::faccessat(AT_FDCWD, dir.c_str(), W_OK | X_OK, AT_EACCESS) != 0)
      fail("cannot create files in directory '" + printable(dir, 200) + "' (needed to replace it atomically): " +
           std::strerror(errno));
  } else if (::faccessat(AT_FDCWD, o.target.c_str(), W_OK, AT_EACCESS) != 0) {
    fail(std::string("cannot write: ") + std::strerror(errno));
  }
  outputs_.push_back(std::move(o));
  return outputs_.size() - 1;
}

void OutputFiles::set(size_t i, std::vector<uint8_t> bytes) {
  outputs_.at(i).bytes = std::move(bytes);
  outputs_.at(i).set = true;
}

void OutputFiles::commit() {
  std::string written;
  auto so_far = [&] { return written.empty() ? std::string("; no output was written") : "; already written: " + written; };
  auto done = [&](const Output& o) { written += (written.empty() ? "" : ", ") + shown(o.file.label, o.file.path); };

  // 1. Every temporary, before anything visible changes.
  std::vector<std::unique_ptr<TemporaryFile>> temps(outputs_.size());
  for (size_t i = 0; i < outputs_.size(); ++i) {
    const Output& o = outputs_[i];
    if (!o.set) throw Error(shown(o.file.label, o.file.path) + ": nothing to write (internal error)" + so_far());
    if (o.mode != Mode::create && o.mode != Mode::replace) continue;
    try {
      temps[i] = std::make_unique<TemporaryFile>(o.target, o.bytes.data(), o.bytes.size(),
                                                 o.mode == Mode::replace ? &o.file.st : nullptr);
    } catch (const Error& e) {
      throw Error(o.file.label + (o.file.label.empty() ? "" : ": ") + e.what() + so_far());
    }
  }
  // 2. Files that cannot be replaced, in place (FIFOs, devices, hard links).
  for (const Output& o : outputs_) {
    if (o.mode != Mode::through && o.mode != Mode::in_place) continue;
    const int fd = ::open(o.target.c_str(), O_WRONLY | O_CLOEXEC);
    int err = fd < 0 ? errno : write_all(fd, o.bytes.data(), o.bytes.size());
    if (!err && o.mode == Mode::in_place && (::ftruncate(fd, off_t(o.bytes.size())) != 0 || ::fsync(fd) != 0))
      err = errno;
    if (fd >= 0 && ::close(fd) != 0 && !err && o.mode == Mode::in_place) err = errno;
    if (err) throw Error(shown(o.file.label, o.file.path) + ": cannot write: " + std::strerror(err) + so_far());
    done(o);
  }
  // 3. The renames: each atomic; all of them, unless one fails.
  for (size_t i = 0; i < outputs_.size(); ++i) {
    if (!temps[i]) continue;
    const Output& o = outputs_[i];
    try {
      temps[i]->rename_over();
    } catch (const Error& e) {
      throw Error(o.file.label + (o.file.label.empty() ? "" : ": ") + e.what() + so_far());
    }
    done(o);
  }
}

}  // namespace attngen
