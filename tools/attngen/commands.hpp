// The verbs of the `attngen` CLI. Each adds one subcommand to the app; its
// callback throws attngen::Error on failure (main prints it and exits 1) or
// ExitStatus to end with a specific status after printing its own report.
#pragma once

#include <CLI/CLI.hpp>

namespace attngen::cli {

struct ExitStatus {
  int code;
};

void add_check(CLI::App& app);
void add_run(CLI::App& app);
void add_verify(CLI::App& app);
void add_bench(CLI::App& app);
void add_peak(CLI::App& app);
void add_info(CLI::App& app);
void add_compile(CLI::App& app);
void add_cache(CLI::App& app);

}  // namespace attngen::cli
