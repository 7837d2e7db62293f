// Spec JSON text -> a JSON document, within limits that keep parsing time and
// memory linear in the input whatever it holds: a cap on the text's size, on
// how deep lists and objects nest (checked while parsing, by a parser that
// does not recurse), and repeated keys reported rather than silently dropped.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace attngen {

// Throws SpecError for text that is larger than kMaxSpecBytes, nested deeper
// than kMaxSpecDepth or not JSON (line and column of the problem). Each
// repeated key is appended to `problems` as "<path>: must appear once, ...".
nlohmann::json parse_spec_json(const std::string& text, std::vector<std::string>& problems);

}  // namespace attngen
