// Whole-file I/O: crash-safe replacement of a file, and reading one into memory.
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/error.hpp"

namespace attngen {

// Writes `data` to a fresh temporary next to `path`, fsyncs it and renames it
// over `path`, so readers see either the old file or the complete new one.
// On failure the temporary is removed and attngen::Error names the path.
// It replaces whatever the name held (a link, a FIFO): for files attngen
// owns (cache entries, dumps). Files named by a user go through OutputFiles
// (output_files.hpp), which writes through links and special files.
void write_file_atomic(const std::string& path, const void* data, size_t size);

// The steps of write_file_atomic, for writing several files all or none:
// the data goes to "<path>.tmp.<pid>.<16 hex>", fsynced, at construction;
// rename_over() puts it in place. The temporary is removed on failure and on
// destruction unless renamed. With `like` (the stat of the file to be
// replaced), the new file keeps its permission bits and, where allowed, owner.
class TemporaryFile {
 public:
  TemporaryFile(const std::string& path, const void* data, size_t size, const struct stat* like = nullptr);
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;
  ~TemporaryFile();
  // Throws Error("cannot replace '<path>': <strerror>").
  void rename_over();

 private:
  std::string path_, tmp_;
};

// write(2) until all of `data` is written; 0, or the errno of the failure.
int write_all(int fd, const void* data, size_t size);

// "a directory", "a FIFO", "a character device"... for the st_mode of a file
// that is not a regular file.
const char* file_kind(unsigned st_mode);

// What read_file accepts. The defaults read anything a shell redirection
// would (regular files, pipes, FIFOs, devices), whatever its size.
struct ReadLimits {
  uint64_t max_bytes = UINT64_MAX;  // more is FileTooLarge
  bool regular_only = false;        // anything else is an Error; opened O_NONBLOCK, so a FIFO never blocks
  bool no_follow = false;           // a symbolic link is an Error (O_NOFOLLOW)
};

// A file longer than ReadLimits::max_bytes.
class FileTooLarge : public ErrorKind<FileTooLarge> {
 public:
  using ErrorKind::ErrorKind;
};

// The whole file. Throws Error("<what>: cannot read '<path>': <why>"), e.g.
// the strerror, "is a directory", "not a regular file (a FIFO)".
std::vector<uint8_t> read_file(const std::string& path, const std::string& what, const ReadLimits& limits = {});

}  // namespace attngen
