#include "runtime/core/text.hpp"

#include <cstdint>
#include <cstdio>

namespace attngen {
namespace {

// Length of the well-formed UTF-8 sequence starting at s[i] (2-4 bytes), or 0
// (ASCII, a stray continuation byte, an overlong form, a surrogate, > U+10FFFF).
size_t utf8_sequence(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return uint8_t(s[k]); };
  const uint8_t b = byte(i);
  size_t n;
  uint32_t cp;
  if (b >= 0xc2 && b <= 0xdf) n = 2, cp = b & 0x1fu;
  else if (b >= 0xe0 && b <= 0xef) n = 3, cp = b & 0x0fu;
  else if (b >= 0xf0 && b <= 0xf4) n = 4, cp = b & 0x07u;
  else return 0;
  if (s.size() - i < n) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (byte(i + k) & 0x3fu);
  }
  const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

}  // namespace

std::string printable(std::string_view s, size_t max_chars) {
  std::string out;
  size_t chars = 0;
  for (size_t i = 0; i < s.size();) {
    if (chars == max_chars) return out + "...";
    ++chars;
    const uint8_t b = uint8_t(s[i]);
    if (b >= 0x20 && b < 0x7f) {
      out += char(b);
      ++i;
    } else if (const size_t n = utf8_sequence(s, i)) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", b);
      out += hex;
      ++i;
    }
  }
  return out;
}

}  // namespace attngen
