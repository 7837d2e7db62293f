// attngen: compile attention specs into fused kernels, run and check them.
#include <csignal>
#include <cstdio>
#include <exception>
#include <new>

#include "runtime/core/error.hpp"
#include "runtime/core/version.hpp"
#include "tools/attngen/cli_checks.hpp"
#include "tools/attngen/commands.hpp"

int main(int argc, char** argv) {
  // A FIFO or pipe whose reader went away is a write error (EPIPE) with a
  // message naming the output, not a silent death by SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"attngen: a run-time compiler for fused masked attention (spec v1)"};
  app.set_version_flag("--version", std::string("attngen ") + attngen::kVersion);
  app.require_subcommand(1);
  app.failure_message(attngen::cli::readable_failure);  // before the subcommands, which copy it
  attngen::cli::add_check(app);
  attngen::cli::add_run(app);
  attngen::cli::add_verify(app);
  attngen::cli::add_bench(app);
  attngen::cli::add_peak(app);
  attngen::cli::add_info(app);
  attngen::cli::add_compile(app);
  attngen::cli::add_cache(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const attngen::cli::ExitStatus& e) {
    return e.code;
  } catch (const std::bad_alloc&) {
    // Sizes from the command line and from files are checked before they are
    // allocated, with a message naming them; this is what remains.
    std::fprintf(stderr, "attngen: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "attngen: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
