#include "runtime/cache/disk_cache.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string_view>

#include "codegen/spec/spec.hpp"
#include "runtime/core/error.hpp"
#include "runtime/core/text.hpp"
#include "runtime/core/version.hpp"
#include "runtime/io/atomic_file.hpp"

namespace attngen {
namespace {

namespace fs = std::filesystem;

// File layout (integers little-endian):
//   magic "ATTNGEN\x1a" | u32 format | 6 x (u32 length, bytes): generator,
//   toolchain, backend, isa, key, spec | u64 payload size, payload |
//   u64 FNV-1a-64 of every byte before it.
constexpr char kMagic[8] = {'A', 'T', 'T', 'N', 'G', 'E', 'N', '\x1a'};
constexpr uint32_t kFormat = 1;
constexpr uint32_t kMaxString = 1u << 20;
constexpr const char* kSuffix = ".kernel";

// How an entry is read: a regular file of bounded size, never through a
// symbolic link, and opened without blocking, so that a FIFO, a link to
// /dev/zero or a huge file under an entry's name is a discarded entry rather
// than a hang or an exhausted memory.
const ReadLimits kEntryLimits{kMaxEntryBytes, /*regular_only=*/true, /*no_follow=*/true};

uint64_t fnv1a64(const uint8_t* p, size_t n) {  // the hash of cache_key, over bytes
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

void put_u(std::vector<uint8_t>& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(uint8_t(v >> (8 * i)));
}

class Reader {
 public:
  explicit Reader(const std::vector<uint8_t>& b) : b_(b) {}
  uint64_t u(int bytes, const char* what) {
    need(size_t(bytes), what);
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= uint64_t(b_[pos_ + size_t(i)]) << (8 * i);
    pos_ += size_t(bytes);
    return v;
  }
  std::string str(const char* what) {
    const uint64_t n = u(4, what);
    if (n > kMaxString) throw Error(std::string("implausible length of ") + what + ": " + std::to_string(n));
    need(size_t(n), what);
    std::string s(b_.begin() + long(pos_), b_.begin() + long(pos_ + n));
    pos_ += size_t(n);
    return s;
  }
  void need(size_t n, const char* what) const {
    if (b_.size() - pos_ < n)
      throw Error(std::string("truncated (") + std::to_string(b_.size()) + " bytes) in " + what);
  }
  size_t pos() const { return pos_; }
  void skip(size_t n) { pos_ += n; }

 private:
  const std::vector<uint8_t>& b_;
  size_t pos_ = 0;
};

// The inode of the regular file at `path` itself (a symbolic link is not followed).
bool regular_ino(const std::string& path, ino_t* ino) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  *ino = st.st_ino;
  return true;
}

bool hex_digits(std::string_view s, size_t n) {
  return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// What entry_path(), lock() and write_file_atomic() name files, and nothing
// else: "<16 hex>-<8 hex>.kernel" + "" | ".lock" | ".tmp.<pid>.<16 hex>".
DiskCache::Kind kind_by_name(std::string_view name) {
  using Kind = DiskCache::Kind;
  constexpr size_t kEntryName = 16 + 1 + 8 + 7;
  if (name.size() < kEntryName || !hex_digits(name.substr(0, 16), 16) || name[16] != '-' ||
      !hex_digits(name.substr(17, 8), 8) || name.substr(25, 7) != kSuffix)
    return Kind::foreign;
  const std::string_view rest = name.substr(kEntryName);
  if (rest.empty()) return Kind::entry;
  if (rest == ".lock") return Kind::lock;
  if (rest.substr(0, 5) != ".tmp.") return Kind::foreign;
  const size_t dot = rest.find('.', 5);
  if (dot == std::string_view::npos || dot == 5) return Kind::foreign;
  const std::string_view pid = rest.substr(5, dot - 5);
  if (!std::all_of(pid.begin(), pid.end(), [](char c) { return c >= '0' && c <= '9'; })) return Kind::foreign;
  return hex_digits(rest.substr(dot + 1), 16) ? Kind::temporary : Kind::foreign;
}

// Empty when `path` is a regular file starting with the entry magic;
// otherwise why it is not attngen's. Opened as entries are (no link, no block).
std::string not_an_entry(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return errno == ELOOP ? "a symbolic link" : std::strerror(errno);
  struct stat st;
  char magic[sizeof kMagic];
  std::string why;
  if (::fstat(fd, &st) != 0) why = std::strerror(errno);
  else if (!S_ISREG(st.st_mode)) why = file_kind(st.st_mode);
  else if (::pread(fd, magic, sizeof magic, 0) != ssize_t(sizeof magic) || !std::equal(magic, magic + sizeof magic, kMagic))
    why = "does not start with the entry magic";
  ::close(fd);
  return why;
}

}  // namespace

std::string toolchain_id() {
#if defined(__clang__)
  std::string id = "clang " __clang_version__;
#elif defined(__GNUC__)
  std::string id = "gcc " __VERSION__;
#else
  std::string id = "unknown-compiler";
#endif
#if defined(__x86_64__)
  id += " x86_64";
#elif defined(__aarch64__)
  id += " aarch64";
#endif
  return id;
}

std::vector<uint8_t> encode_entry(const DiskEntry& e) {
  std::vector<uint8_t> out(kMagic, kMagic + 8);
  put_u(out, kFormat, 4);
  for (const std::string* s : {&e.generator, &e.toolchain, &e.backend, &e.isa, &e.key, &e.spec}) {
    put_u(out, s->size(), 4);
    out.insert(out.end(), s->begin(), s->end());
  }
  put_u(out, e.payload.size(), 8);
  out.insert(out.end(), e.payload.begin(), e.payload.end());
  put_u(out, fnv1a64(out.data(), out.size()), 8);
  return out;
}

DiskEntry decode_entry(const std::vector<uint8_t>& bytes) {
  Reader r(bytes);
  r.need(8, "magic");
  if (!std::equal(kMagic, kMagic + 8, bytes.begin())) throw Error("not an attngen cache entry (bad magic)");
  r.skip(8);
  if (const uint64_t f = r.u(4, "format"); f != kFormat)
    throw Error("entry format " + std::to_string(f) + ", expected " + std::to_string(kFormat));
  DiskEntry e;
  e.generator = r.str("generator");
  e.toolchain = r.str("toolchain");
  e.backend = r.str("backend");
  e.isa = r.str("isa");
  e.key = r.str("key");
  e.spec = r.str("spec");
  const uint64_t n = r.u(8, "payload size");
  if (n > bytes.size()) throw Error("truncated: payload of " + std::to_string(n) + " bytes in a file of " + std::to_string(bytes.size()));
  r.need(size_t(n), "payload");
  e.payload.assign(bytes.begin() + long(r.pos()), bytes.begin() + long(r.pos() + n));
  r.skip(size_t(n));
  const size_t body = r.pos();
  const uint64_t sum = r.u(8, "checksum");
  if (r.pos() != bytes.size()) throw Error(std::to_string(bytes.size() - r.pos()) + " unexpected bytes after the checksum");
  if (sum != fnv1a64(bytes.data(), body)) throw Error("checksum mismatch (corrupted)");
  return e;
}

std::string default_cache_dir() {
  if (const char* d = std::getenv("ATTNGEN_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x == '/') return std::string(x) + "/attngen";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/attngen";
  return "";
}

std::string DiskCache::entry_path(const std::string& key) const {
  // The toolchain is part of the name so that two builds sharing a directory
  // keep their own entries instead of discarding each other's.
  return dir_ + "/" + key + "-" + stable_hash_hex(toolchain_id()).substr(0, 8) + kSuffix;
}

std::optional<DiskEntry> DiskCache::load(const std::string& key, std::string* why) const {
  if (why) why->clear();
  const std::string path = entry_path(key);
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return std::nullopt;
  const ino_t ino = st.st_ino;
  std::string problem;
  try {
    DiskEntry e = decode_entry(read_file(path, "cache entry", kEntryLimits));
    // The entry's strings are the file's bytes: escaped in the message (fuzz_cache_entry).
    if (e.generator != kGeneratorVersion)
      problem = "generator " + printable(e.generator) + ", this library is " + kGeneratorVersion;
    else if (e.toolchain != toolchain_id())
      problem = "toolchain '" + printable(e.toolchain) + "', this library is '" + toolchain_id() + "'";
    else if (e.key != key)
      problem = "entry of key " + printable(e.key);
    else if ((e.spec.empty() ? module_key(e.backend, e.isa) : cache_key(parse_spec(e.spec), e.backend, e.isa)) != key)
      problem = e.spec.empty() ? "its module and ISA do not hash to its key"
                               : "its spec, backend and ISA do not hash to its key";
    if (problem.empty()) return e;
  } catch (const std::exception& ex) {
    problem = ex.what();
  }
  // Delete only the regular file we read: another process may have replaced
  // it by now. Anything else under the name (a FIFO, a link) is left for
  // store() to rename over.
  ino_t now;
  if (S_ISREG(st.st_mode) && regular_ino(path, &now) && now == ino) ::unlink(path.c_str());
  if (why) *why = problem;
  return std::nullopt;
}

void DiskCache::store(const DiskEntry& entry) const {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw Error("cache directory '" + dir_ + "': cannot create: " + ec.message());
  const std::vector<uint8_t> bytes = encode_entry(entry);
  write_file_atomic(entry_path(entry.key), bytes.data(), bytes.size());
}

void DiskCache::remove(const std::string& key) const { ::unlink(entry_path(key).c_str()); }

DiskCache::KeyLock::~KeyLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

void DiskCache::KeyLock::remove_file() const { ::unlink(path_.c_str()); }

DiskCache::KeyLock DiskCache::lock(const std::string& key) const {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw Error("cache directory '" + dir_ + "': cannot create: " + ec.message());
  const std::string path = entry_path(key) + ".lock";
  // Never through a link (it would create or lock a file elsewhere), never
  // blocking in open() (a FIFO).
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0666);
  if (fd < 0)
    throw Error("cache lock '" + path + "': " + (errno == ELOOP ? "a symbolic link, not a regular file" : std::strerror(errno)));
  struct stat st;
  const bool stated = ::fstat(fd, &st) == 0;
  if (!stated || !S_ISREG(st.st_mode)) {
    const std::string why = stated ? std::string(file_kind(st.st_mode)) + ", not a regular file" : std::strerror(errno);
    ::close(fd);
    throw Error("cache lock '" + path + "': " + why);
  }
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    const int err = errno;
    ::close(fd);
    throw Error("cache lock '" + path + "': " + std::strerror(err));
  }
  return KeyLock(fd, path);
}

std::vector<DiskCache::Listing> DiskCache::list() const {
  std::vector<Listing> out;
  std::error_code ec;
  for (const auto& de : fs::directory_iterator(dir_, ec)) {
    Listing l;
    l.file = de.path().filename().string();
    const std::string path = de.path().string();
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) continue;  // removed meanwhile
    l.bytes = uint64_t(st.st_size);
    l.kind = S_ISREG(st.st_mode) ? kind_by_name(l.file) : Kind::foreign;
    if (!S_ISREG(st.st_mode)) l.problem = file_kind(st.st_mode);
    else if (l.kind == Kind::foreign) l.problem = "not a name the cache uses";
    else if (l.kind == Kind::entry) l.problem = not_an_entry(path);
    if (l.kind == Kind::entry && !l.problem.empty()) {
      l.kind = Kind::foreign;
    } else if (l.kind == Kind::entry) {
      try {
        DiskEntry e = decode_entry(read_file(path, "cache entry", kEntryLimits));
        e.payload.clear();
        if (e.generator != kGeneratorVersion) l.problem = "stale: generator " + e.generator;
        else if (e.toolchain != toolchain_id()) l.problem = "foreign toolchain: " + e.toolchain;
        l.entry = std::move(e);
      } catch (const std::exception& ex) {
        l.problem = ex.what();
      }
    }
    out.push_back(std::move(l));
  }
  std::sort(out.begin(), out.end(), [](const Listing& a, const Listing& b) { return a.file < b.file; });
  return out;
}

std::pair<size_t, uint64_t> DiskCache::clear() const {
  size_t files = 0;
  uint64_t bytes = 0;
  std::error_code ec;
  for (const auto& de : fs::directory_iterator(dir_, ec)) {
    const std::string name = de.path().filename().string();
    const std::string path = de.path().string();
    const Kind kind = kind_by_name(name);
    struct stat st;
    if (kind == Kind::foreign || ::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (kind == Kind::entry && !not_an_entry(path).empty()) continue;
    int lock_fd = -1;
    if (kind == Kind::lock) {
      // A lock some process holds guards a build in progress: removing its
      // file would let another process build the same key at the same time.
      lock_fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
      if (lock_fd < 0) continue;
      if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
        ::close(lock_fd);
        continue;
      }
    }
    if (::unlink(path.c_str()) == 0) ++files, bytes += uint64_t(st.st_size);
    if (lock_fd >= 0) ::close(lock_fd);
  }
  return {files, bytes};
}

}  // namespace attngen
