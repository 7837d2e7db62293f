// attngen check SPEC: validate, print the canonical form and the cache keys.
#include <cstdio>

#include "codegen/spec/spec.hpp"
#include "runtime/core/backend.hpp"
#include "tools/attngen/commands.hpp"

namespace attngen::cli {

void add_check(CLI::App& app) {
  auto* cmd = app.add_subcommand("check", "Validate a spec; print its canonical form and cache keys");
  auto path = std::make_shared<std::string>();
  auto json_only = std::make_shared<bool>(false);
  cmd->add_option("spec", *path, "Spec JSON file")->required();
  cmd->add_flag("--canonical", *json_only, "Print only the canonical JSON (one line)");
  cmd->callback([path, json_only] {
    const Spec spec = load_spec_file(*path);
    if (*json_only) {
      std::printf("%s\n", canonical_json(spec).c_str());
      return;
    }
    std::printf("%s\n", canonical_json(spec, /*pretty=*/true).c_str());
    // One key per backend that can run here: the key includes backend and ISA.
    for (const Backend* b : all_backends()) {
      const std::string why = b->unavailable_reason();
      const std::string unsup = why.empty() ? b->unsupported_reason(spec) : why;
      if (unsup.empty())
        std::printf("key %-10s %s (isa %s)\n", b->name().c_str(), cache_key(spec, b->name(), b->isa()).c_str(),
                    b->isa().c_str());
      else
        std::printf("key %-10s - (%s)\n", b->name().c_str(), unsup.c_str());
    }
  });
}

}  // namespace attngen::cli
