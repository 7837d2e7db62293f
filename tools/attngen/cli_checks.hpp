// Checks on command-line values that CLI11 gets wrong for untrusted input:
// its numeric checks convert with strtoll (99999999999999999999 silently
// becomes INT64_MAX, 010 is octal) and print bounds of 309 digits, and its
// messages echo any value in full, control bytes included.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

namespace attngen::cli {

// A decimal integer in [lo, hi], for Option::transform (not check(), whose
// validators may not modify): the value is rewritten in canonical form
// (no sign, no leading zeros) before CLI11 converts it. Otherwise
// "<flag>: must be an integer in [lo, hi], got <value, escaped, cut to 40 characters>".
CLI::Validator integer_in(int64_t lo, int64_t hi);

// CLI11's message for a parse error, with every long word cut short and
// control bytes escaped (printable()); for App::failure_message.
std::string readable_failure(const CLI::App* app, const CLI::Error& e);

}  // namespace attngen::cli
