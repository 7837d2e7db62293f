#include "tools/attngen/cli_checks.hpp"

#include <charconv>

#include "runtime/core/text.hpp"

namespace attngen::cli {

CLI::Validator integer_in(int64_t lo, int64_t hi) {
  const std::string range = "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  return CLI::Validator(
      [lo, hi, range](std::string& value) -> std::string {
        int64_t v = 0;
        const char* end = value.data() + value.size();
        const auto [stop, err] = std::from_chars(value.data(), end, v);
        if (value.empty() || err != std::errc() || stop != end || v < lo || v > hi)
          return "must be an integer in " + range + ", got " + printable(value);
        value = std::to_string(v);
        return "";
      },
      "INT in " + range);
}

std::string readable_failure(const CLI::App* app, const CLI::Error& e) {
  const std::string msg = CLI::FailureMessage::simple(app, e);
  std::string out, word;
  auto flush = [&] {
    out += printable(word, word.size() > 60 ? 40 : word.size());
    word.clear();
  };
  for (char c : msg) {
    if (c == ' ' || c == '\n') {
      flush();
      out += c;
    } else {
      word += c;
    }
  }
  flush();
  return out;
}

}  // namespace attngen::cli
