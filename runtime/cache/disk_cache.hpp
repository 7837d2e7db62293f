// The on-disk kernel cache, for artifacts that are slow to build and safe to
// reload (a backend whose Kernel::serialize() returns bytes). One file per
// entry, "<key>-<toolchain hash>.kernel": a header naming everything the
// payload depends on, the payload, and an FNV-1a-64 checksum of both.
// Entries are written to a temporary file and renamed, so readers see whole
// files only; a truncated, corrupted or foreign entry is deleted, never
// loaded. Several processes may share one directory: a per-key lock file
// (flock) lets one of them build a key while the others wait for its entry.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace attngen {

// Entries are regular files of at most this size; anything else under an
// entry's name is discarded, never read.
constexpr uint64_t kMaxEntryBytes = uint64_t(64) << 20;

struct DiskEntry {
  std::string generator;          // kGeneratorVersion
  std::string toolchain;          // toolchain_id()
  std::string backend, isa, key;  // key = cache_key(spec, backend, isa)
  std::string spec;               // canonical JSON; empty for a module of no spec (backend
                                  // names the module, key = module_key(backend, isa))
  std::vector<uint8_t> payload;   // Kernel::serialize(), or the module's bytes
};

// The compiler and target that built this binary, e.g. "gcc 12.2.0 x86_64".
// Backend toolchains (a CUDA driver, say) belong in the backend's ISA string.
std::string toolchain_id();

std::vector<uint8_t> encode_entry(const DiskEntry& entry);
// Throws Error saying what is wrong: bad magic, truncated, checksum mismatch...
DiskEntry decode_entry(const std::vector<uint8_t>& bytes);

// ATTNGEN_CACHE_DIR, else $XDG_CACHE_HOME/attngen, else ~/.cache/attngen
// ("" when none of them can be determined).
std::string default_cache_dir();

class DiskCache {
 public:
  explicit DiskCache(std::string dir) : dir_(std::move(dir)) {}
  const std::string& dir() const { return dir_; }
  std::string entry_path(const std::string& key) const;

  // The valid entry of `key`, or nullopt. An entry that fails any check (see
  // decode_entry, plus generator, toolchain, key and spec consistency) is
  // deleted and `*why` says why; a plain miss leaves `*why` empty.
  std::optional<DiskEntry> load(const std::string& key, std::string* why = nullptr) const;
  // Writes atomically, creating the directory. Throws Error on I/O failure.
  void store(const DiskEntry& entry) const;
  // Deletes the entry of `key` (e.g. one its backend refused to load).
  void remove(const std::string& key) const;

  // Exclusive across processes (flock on "<entry>.lock") while held.
  class KeyLock {
   public:
    KeyLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
    KeyLock(KeyLock&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
    KeyLock& operator=(KeyLock&&) = delete;
    ~KeyLock();
    // Removes the lock file (when nothing will ever be stored under it);
    // the lock itself is held until destruction.
    void remove_file() const;

   private:
    int fd_;
    std::string path_;
  };
  // Blocks until this process holds the lock of `key`. Throws Error on I/O failure.
  KeyLock lock(const std::string& key) const;

  // What a file in the directory is. A file is attngen's only when this
  // class can prove it: a regular file whose name follows entry_path()'s
  // scheme exactly ("<16 hex key>-<8 hex toolchain>.kernel", plus ".lock", or
  // ".tmp.<pid>.<16 hex>" for a temporary), and for an entry, whose content
  // starts with the entry magic. Anything else (a Cargo.lock, an x.kernel,
  // a link) is foreign: listed, never removed.
  enum class Kind { entry, lock, temporary, foreign };
  struct Listing {
    std::string file;               // name inside dir()
    uint64_t bytes = 0;
    Kind kind = Kind::foreign;
    std::optional<DiskEntry> entry;  // decoded when the file is a valid entry (payload dropped)
    std::string problem;            // entries: why it would be discarded; foreign files: why not attngen's
  };
  // Every file in the directory, sorted by name.
  std::vector<Listing> list() const;
  // Removes attngen's entries, temporaries and locks (but a lock that a
  // process holds); leaves foreign files alone. Returns the files and bytes removed.
  std::pair<size_t, uint64_t> clear() const;

 private:
  std::string dir_;
};

}  // namespace attngen
