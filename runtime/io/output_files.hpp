// Files a command writes for its user (`attngen run --out/--lse`, `attngen
// compile --emit`, write_npy): all of them or none, every path checked before
// anything runs, and written so that nothing changes but the content of the
// file the user named: links, permission bits and special files survive.
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace attngen {

class OutputFiles {
 public:
  // An input of the command (`label` names it in messages, e.g. "--q"): no
  // output may be the same file.
  void add_input(const std::string& label, const std::string& path);

  // An output; returns its index for set(). How it will be written:
  //  * missing, or a regular file with one link: through a temporary in the
  //    file's own directory renamed over it, so readers see the old file or
  //    the new one; an existing file keeps its permission bits (and owner,
  //    where allowed);
  //  * a symbolic link: resolved, and its target written as above (in the
  //    target's directory); the link stays a link;
  //  * a regular file with several hard links: written in place (truncated
  //    and rewritten), so that every name sees the new content; this one case
  //    is not atomic;
  //  * a FIFO or a device: written through, never replaced;
  //  * a directory or a socket: refused.
  // Throws Error naming the label and path, before anything is written, when
  // the output is one of the inputs or another output (same device and inode
  // when the file exists, else the same path with links resolved; character
  // devices such as /dev/null may be shared) or cannot be written (missing
  // directory, no permission).
  size_t add_output(const std::string& label, const std::string& path);

  // The content of output `i`.
  void set(size_t i, std::vector<uint8_t> bytes);

  // Writes every output: first each temporary (a failure there changes
  // nothing), then the outputs written through, then the renames. Throws
  // Error on failure, saying which outputs were already written, if any.
  void commit();

 private:
  enum class Mode { create, replace, in_place, through };
  struct File {
    std::string label, path;  // as given
    std::string resolved;     // links resolved; "" when unknown
    bool exists = false;
    int error = 0;  // stat's errno when it does not exist
    struct stat st {};
  };
  struct Output {
    File file;
    Mode mode = Mode::create;
    std::string target;  // what is written or renamed over
    std::vector<uint8_t> bytes;
    bool set = false;
  };

  static File identify(const std::string& label, const std::string& path);
  void check_distinct(const File& out) const;

  std::vector<File> inputs_;
  std::vector<Output> outputs_;
};

}  // namespace attngen
