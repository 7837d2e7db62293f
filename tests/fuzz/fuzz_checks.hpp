// Shared by the fuzz targets: a property failure aborts (libFuzzer keeps the
// input as a crash; the replay test fails).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace attngen::fuzz {

[[noreturn]] inline void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz property failed: %s\n%s\n", what, detail.c_str());
  std::abort();
}

// Messages echo input escaped (docs/errors.md): printable ASCII, newlines
// between problems, well-formed UTF-8 only.
inline void check_message(const std::string& m) {
  if (m.empty()) fail("empty error message", m);
  for (size_t i = 0; i < m.size();) {
    const unsigned char c = static_cast<unsigned char>(m[i]);
    if (c < 0x80) {
      if ((c < 0x20 && c != '\n') || c == 0x7f) fail("raw control byte in an error message", m);
      ++i;
      continue;
    }
    // A well-formed UTF-8 sequence (RFC 3629): no overlongs, surrogates or values past U+10FFFF.
    size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (n == 0 || i + n > m.size()) fail("ill-formed UTF-8 in an error message", m);
    const unsigned char c1 = static_cast<unsigned char>(m[i + 1]);
    bool ok = (c1 & 0xc0) == 0x80;
    if (c == 0xe0) ok = ok && c1 >= 0xa0;
    if (c == 0xed) ok = ok && c1 <= 0x9f;
    if (c == 0xf0) ok = ok && c1 >= 0x90;
    if (c == 0xf4) ok = ok && c1 <= 0x8f;
    for (size_t k = 2; k < n; ++k) ok = ok && (static_cast<unsigned char>(m[i + k]) & 0xc0) == 0x80;
    if (!ok) fail("ill-formed UTF-8 in an error message", m);
    i += n;
  }
}

}  // namespace attngen::fuzz
