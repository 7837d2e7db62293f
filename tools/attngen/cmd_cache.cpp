// attngen cache ls|clear [--dir DIR]: the disk cache's entries (key, backend,
// ISA, size, and why an entry would be discarded), or remove them all. Files
// that are not provably attngen's (disk_cache.hpp) are listed and left alone.
#include <cstdio>

#include "runtime/cache/kernel_cache.hpp"
#include "runtime/core/text.hpp"
#include "tools/attngen/commands.hpp"

namespace attngen::cli {
namespace {

std::string cache_dir(const std::string& flag) {
  const std::string dir = flag.empty() ? default_cache_dir() : flag;
  if (dir.empty()) throw Error("cache: no cache directory (set ATTNGEN_CACHE_DIR or pass --dir)");
  return dir;
}

void list(const std::string& dir_flag) {
  const std::string dir = cache_dir(dir_flag);
  uint64_t total = 0;
  size_t valid = 0;
  std::printf("%s\n", printable(dir, 200).c_str());
  for (const DiskCache::Listing& l : DiskCache(dir).list()) {
    total += l.bytes;
    std::string what;
    switch (l.kind) {
      case DiskCache::Kind::entry:
        if (l.entry) {
          what = l.entry->key + " " + l.entry->backend + "/" + l.entry->isa;
          if (!l.problem.empty()) what += " (" + l.problem + ")";
          valid += l.problem.empty();
        } else {
          what = "invalid: " + l.problem;
        }
        break;
      case DiskCache::Kind::lock: what = "lock"; break;
      case DiskCache::Kind::temporary: what = "temporary"; break;
      case DiskCache::Kind::foreign: what = "not attngen's: " + l.problem + " (left alone)"; break;
    }
    std::printf("  %-48s %10llu  %s\n", printable(l.file, 60).c_str(), (unsigned long long)l.bytes, what.c_str());
  }
  std::printf("%zu valid entries, %llu bytes\n", valid, (unsigned long long)total);
}

void clear(const std::string& dir_flag) {
  const std::string dir = cache_dir(dir_flag);
  const DiskCache cache(dir);
  const auto [files, bytes] = cache.clear();
  size_t kept = 0;
  for (const DiskCache::Listing& l : cache.list()) kept += l.kind == DiskCache::Kind::foreign;
  std::printf("%s: removed %zu files, %llu bytes", printable(dir, 200).c_str(), files, (unsigned long long)bytes);
  if (kept) std::printf("; left alone %zu files that are not attngen's", kept);
  std::printf("\n");
}

}  // namespace

void add_cache(CLI::App& app) {
  auto* cmd = app.add_subcommand("cache", "List or clear the disk kernel cache");
  cmd->require_subcommand(1);
  auto dir = std::make_shared<std::string>();
  auto* ls = cmd->add_subcommand("ls", "List the entries of the disk cache");
  ls->add_option("--dir", *dir, "Cache directory (default: ATTNGEN_CACHE_DIR, else ~/.cache/attngen)");
  ls->callback([dir] { list(*dir); });
  auto* cl = cmd->add_subcommand("clear", "Remove the disk cache's entries, locks and temporaries (nothing else)");
  cl->add_option("--dir", *dir, "Cache directory (default: ATTNGEN_CACHE_DIR, else ~/.cache/attngen)");
  cl->callback([dir] { clear(*dir); });
}

}  // namespace attngen::cli
