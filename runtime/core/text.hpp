// Untrusted text shown in messages: JSON keys and values, command-line values,
// file names. A message must stay one readable line whatever came in, so
// invalid or control bytes are escaped and long values cut short.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace attngen {

// `s` as it can be printed: printable ASCII and well-formed UTF-8 stay as they
// are; control bytes, DEL and bytes that are not well-formed UTF-8 become
// \xNN. Past `max_chars` characters the rest becomes "..." (so a 10 MB value
// shows as its first `max_chars` characters).
std::string printable(std::string_view s, size_t max_chars = 40);

}  // namespace attngen
