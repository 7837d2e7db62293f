#include "runtime/cache/dump.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "runtime/io/atomic_file.hpp"

extern char** environ;

namespace attngen {
namespace {

// Runs `objdump -D -b binary -m<arch> bin` with stdout into `out`, without a
// shell (file names are never interpreted). Returns whether it succeeded.
bool disassemble(const std::string& bin, const char* arch, const std::string& out) {
  const std::string tmp = out + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) return false;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fd, STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  const std::string march = std::string("-m") + arch;
  const char* argv[] = {"objdump", "-D", "-b", "binary", march.c_str(), bin.c_str(), nullptr};
  pid_t pid;
  int rc = posix_spawnp(&pid, "objdump", &actions, nullptr, const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fd);
  int status = 0;
  bool ok = rc == 0;
  if (ok) {
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  if (ok) ok = ::rename(tmp.c_str(), out.c_str()) == 0;
  if (!ok) ::unlink(tmp.c_str());
  return ok;
}

}  // namespace

void dump_kernel(const Kernel& kernel, const std::string& dir) {
  try {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    const std::string base = dir + "/" + kernel.key() + ".";
    const std::string spec = canonical_json(kernel.spec(), true) + "\n";
    write_file_atomic(base + "spec.json", spec.data(), spec.size());
    for (const Kernel::CodeBlob& blob : kernel.code_blobs()) {
      const std::string path = base + blob.name;
      write_file_atomic(path, blob.data, blob.size);
      if (blob.objdump_arch) disassemble(path, blob.objdump_arch, path + ".s");
    }
  } catch (const std::exception&) {
    // A debugging aid: never fail the compile over it.
  }
}

}  // namespace attngen
