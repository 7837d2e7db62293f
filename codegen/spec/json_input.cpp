#include "codegen/spec/json_input.hpp"

#include <string_view>
#include <unordered_set>

#include "codegen/spec/spec.hpp"
#include "runtime/core/text.hpp"

namespace attngen {
namespace {

using json = nlohmann::json;

// nlohmann's DOM builder behind a SAX interface that counts the nesting depth
// and sees every key. Keeps one small frame per open list or object; a JSON
// path is only spelled out when a problem is reported.
class LimitedDomParser {
 public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  LimitedDomParser(json& root, std::vector<std::string>& problems) : dom_(root), problems_(problems) {}

  bool null() { return element() && dom_.null(); }
  bool boolean(bool v) { return element() && dom_.boolean(v); }
  bool number_integer(number_integer_t v) { return element() && dom_.number_integer(v); }
  bool number_unsigned(number_unsigned_t v) { return element() && dom_.number_unsigned(v); }
  bool number_float(number_float_t v, const string_t& s) { return element() && dom_.number_float(v, s); }
  bool string(string_t& v) { return element() && dom_.string(v); }
  bool binary(binary_t& v) { return element() && dom_.binary(v); }

  bool start_object(std::size_t n) { return element() && open(false) && dom_.start_object(n); }
  bool start_array(std::size_t n) { return element() && open(true) && dom_.start_array(n); }
  bool end_object() { return close() && dom_.end_object(); }
  bool end_array() { return close() && dom_.end_array(); }

  bool key(string_t& k) {
    Frame& f = frames_.back();
    f.key = k;
    f.has_key = true;
    if (!f.keys.insert(k).second && problems_.size() < kMaxReported)
      problems_.push_back(path() + ": must appear once, got a repeated field");
    return dom_.key(k);
  }

  template <class Exception>
  bool parse_error(std::size_t pos, const std::string& token, const Exception& ex) {
    return dom_.parse_error(pos, token, ex);  // throws ex
  }

  bool too_deep() const { return too_deep_; }
  std::string path() const {
    std::string p;
    for (const Frame& f : frames_) {
      if (f.array) {
        p.append("[").append(std::to_string(f.index - 1)).append("]");
      } else if (f.has_key) {
        if (!p.empty()) p.append(".");
        p.append(printable(f.key));
      }
    }
    return p.empty() ? "spec" : p;
  }

 private:
  // Repeats beyond this many are not listed (the message stays readable).
  static constexpr size_t kMaxReported = 50;

  struct Frame {
    bool array;
    size_t index = 0;  // elements begun so far (lists)
    bool has_key = false;
    std::string key;  // the last key (objects)
    std::unordered_set<std::string> keys;
  };

  // A value begins: in a list, it is the next element; in an object, the
  // value of the last key.
  bool element() {
    if (!frames_.empty()) ++frames_.back().index;
    return true;
  }
  bool open(bool array) {
    if (frames_.size() == size_t(kMaxSpecDepth)) {
      too_deep_ = true;
      return false;  // stops the parser: nothing deeper is ever built
    }
    frames_.push_back(Frame{array, 0, false, {}, {}});
    return true;
  }
  bool close() {
    frames_.pop_back();
    return true;
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  std::vector<std::string>& problems_;
  std::vector<Frame> frames_;
  bool too_deep_ = false;
};

// nlohmann's message, from "syntax error" on, with the offending token
// ("last read: '...'") escaped and cut short: it may hold raw bytes of the
// input, and all of a long string literal.
std::string syntax_message(const std::string& what) {
  std::string msg = what.substr(std::min(what.find("syntax error"), what.size()));
  if (msg.empty()) msg = what;
  static constexpr std::string_view kToken = "last read: '";
  const size_t start = msg.find(kToken);
  if (start == std::string::npos) return printable(msg, 300);
  const size_t from = start + kToken.size();
  size_t end = msg.rfind("'; ");
  if (end == std::string::npos || end < from) end = msg.size();
  return printable(std::string_view(msg).substr(0, from), 200) +
         printable(std::string_view(msg).substr(from, end - from), 40) + printable(std::string_view(msg).substr(end), 200);
}

}  // namespace

json parse_spec_json(const std::string& text, std::vector<std::string>& problems) {
  if (text.size() > kMaxSpecBytes)
    throw SpecError({"spec: " + std::to_string(text.size()) + " bytes, more than the limit of " +
                     std::to_string(kMaxSpecBytes) + " bytes (1 MiB)"});
  json root;
  std::vector<std::string> repeats;
  LimitedDomParser sax(root, repeats);
  try {
    json::sax_parse(text, &sax);
  } catch (const json::out_of_range& e) {  // a number beyond double, e.g. 1e400
    const std::string what = e.what();
    throw SpecError({"spec: invalid JSON: " + printable(what.substr(std::min(what.find("] "), what.size() - 2) + 2), 120)});
  } catch (const json::parse_error& e) {
    // Turn nlohmann's byte offset into line:column.
    size_t line = 1, col = 1;
    for (size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') ++line, col = 1;
      else ++col;
    }
    throw SpecError({"spec: invalid JSON at line " + std::to_string(line) + ", column " + std::to_string(col) + ": " +
                     syntax_message(e.what())});
  }
  if (sax.too_deep())
    throw SpecError({"spec: lists and objects nested more than " + std::to_string(kMaxSpecDepth) + " levels deep (at " +
                     printable(sax.path(), 60) + "); at most " + std::to_string(kMaxSpecDepth) + " levels are allowed"});
  problems.insert(problems.end(), repeats.begin(), repeats.end());
  return root;
}

}  // namespace attngen
