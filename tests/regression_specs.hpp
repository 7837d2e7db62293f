// The specs every backend is swept over (specs/regression/*.json), for the
// sweep and the guard-page test.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace attngen::testing {

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
