// The specs every backend is swept over (specs/regression/*.json), for the
// sweep and the guard-page test, and the backends the sweeps run.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/core/backend.hpp"

namespace attngen::testing {

// Every backend available here but the reference they are compared with.
inline std::vector<std::string> swept_backends() {
  std::vector<std::string> out;
  for (const Backend* b : all_backends())
    if (b->name() != "reference" && b->unavailable_reason().empty()) out.push_back(b->name());
  return out;
}

// File names, sorted.
inline std::vector<std::string> regression_specs() {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(fs::path(ATTNGEN_SOURCE_DIR) / "specs" / "regression"))
    if (e.path().extension() == ".json") files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  return files;
}

inline nlohmann::json load_regression_spec(const std::string& name) {
  std::ifstream in(std::filesystem::path(ATTNGEN_SOURCE_DIR) / "specs" / "regression" / name);
  return nlohmann::json::parse(in);
}

}  // namespace attngen::testing
