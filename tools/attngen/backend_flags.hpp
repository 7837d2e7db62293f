// The flags that pick a backend, shared by compile, run, verify and bench:
// --backend, and for the cuda backend the schedule (--cuda-tile) and, where
// a command compiles for a GPU it may not run on, the arch (--arch).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "codegen/spec/spec.hpp"
#include "runtime/core/backend.hpp"

namespace attngen::cli {

struct BackendFlags {
  std::string backend = "auto", arch, cuda_tile;

  // Adds --backend and --cuda-tile to `cmd`, and --arch when `with_arch`.
  void add_to(CLI::App* cmd, bool with_arch);
  // The backend they name for `spec` (select_backend with the cuda target
  // they spell); throws Error naming the flag it does not take.
  const Backend& select(const Spec& spec) const;
};

}  // namespace attngen::cli
