#include "runtime/io/npy.hpp"

#include <cstring>
#include <string_view>

#include "runtime/core/error.hpp"
#include "runtime/core/text.hpp"
#include "runtime/io/atomic_file.hpp"
#include "runtime/io/output_files.hpp"

namespace attngen {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
constexpr size_t kAlign = 64;  // numpy pads headers so data starts 64-aligned

constexpr const char* kSupported =
    "supported: '<f4' (f32), '<f2' (f16), '<u2' (bf16 bits), '<i4' (i32), '|u1' (u8), "
    "'|b1' (bool)";

// Names the tensor (and file) in every message.
struct Ctx {
  const std::string& name;
  const std::string& path;  // empty when parsing from memory
  [[noreturn]] void fail(const std::string& msg) const {
    throw Error(name + ": " + msg + (path.empty() ? "" : " (in '" + printable(path, 200) + "')"));
  }
};

ElemType descr_type(const std::string& d, const Ctx& ctx) {
  // Multi-byte types must say little-endian; 1-byte types have no byte order,
  // and numpy writes them with '|' (older writers: '=' or nothing).
  char order = d.empty() ? 0 : d[0];
  bool has_order = order == '<' || order == '>' || order == '=' || order == '|';
  std::string code = has_order ? d.substr(1) : d;
  if (code == "u1" || code == "b1" || code == "?") {
    if (order == '>') ctx.fail("unsupported dtype '" + printable(d) + "' (" + kSupported + ")");
    return code == "u1" ? ElemType::u8 : ElemType::b8;
  }
  ElemType t;
  if (code == "f4") t = ElemType::f32;
  else if (code == "f2") t = ElemType::f16;
  else if (code == "u2") t = ElemType::bf16;
  else if (code == "i4") t = ElemType::i32;
  else ctx.fail("unsupported dtype '" + printable(d) + "' (" + kSupported + ")");
  if (order == '>')
    ctx.fail("big-endian data ('" + d + "') is not supported; save little-endian");
  if (order != '<')
    ctx.fail("dtype '" + d + "' does not state its byte order; save little-endian ('<" + code +
             "')");
  return t;
}

struct Header {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
};

// The header is a Python dict literal, e.g.
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// Parsed by hand rather than evaluated: only the forms numpy writes, with
// liberal whitespace and trailing commas.
class HeaderParser {
 public:
  HeaderParser(std::string_view s, const Ctx& ctx) : s_(s), ctx_(ctx) {}

  Header parse() {
    Header h;
    bool seen_descr = false, seen_fortran = false, seen_shape = false;
    expect('{');
    while (!eat('}')) {
      std::string key = str();
      expect(':');
      if (key == "descr") {
        once(seen_descr, key);
        ws();
        if (peek() == '[') ctx_.fail("structured dtypes are not supported (" + std::string(kSupported) + ")");
        h.descr = str();
      } else if (key == "fortran_order") {
        once(seen_fortran, key);
        h.fortran_order = boolean();
      } else if (key == "shape") {
        once(seen_shape, key);
        h.shape = tuple();
      } else {
        bad("unexpected key '" + printable(key) + "'");
      }
      if (!eat(',')) {
        expect('}');
        break;
      }
    }
    ws();
    if (i_ != s_.size()) bad("unexpected text after the dict");
    if (!seen_descr) bad("missing key 'descr'");
    if (!seen_fortran) bad("missing key 'fortran_order'");
    if (!seen_shape) bad("missing key 'shape'");
    return h;
  }

 private:
  [[noreturn]] void bad(const std::string& what) const {
    std::string_view shown = s_;
    while (!shown.empty() && (shown.back() == ' ' || shown.back() == '\n')) shown.remove_suffix(1);
    ctx_.fail("malformed .npy header: " + what + " at offset " + std::to_string(i_) + " in \"" +
              printable(shown, 120) + "\"");
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
  }
  bool eat(char c) {
    ws();
    if (peek() != c) return false;
    ++i_;
    return true;
  }
  void expect(char c) {
    if (!eat(c)) bad(std::string("expected '") + c + "'");
  }
  void once(bool& seen, const std::string& key) {
    if (seen) bad("duplicate key '" + printable(key) + "'");
    seen = true;
  }
  std::string str() {
    ws();
    char q = peek();
    if (q != '\'' && q != '"') bad("expected a quoted string");
    size_t end = s_.find(q, i_ + 1);
    if (end == std::string_view::npos) bad("unterminated string");
    std::string out(s_.substr(i_ + 1, end - i_ - 1));
    if (out.find('\\') != std::string::npos) bad("escape sequences are not supported");
    i_ = end + 1;
    return out;
  }
  bool boolean() {
    ws();
    for (auto [word, value] : {std::pair{std::string_view("True"), true}, {"False", false}})
      if (s_.substr(i_, word.size()) == word) {
        i_ += word.size();
        return value;
      }
    bad("expected True or False");
  }
  int64_t dim() {
    ws();
    if (peek() == '-') ctx_.fail("negative dimension in .npy shape");
    if (peek() < '0' || peek() > '9') bad("expected a dimension");
    int64_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s_[i_] - '0', &v))
        ctx_.fail("dimension in .npy shape is too large");
      ++i_;
    }
    if (peek() == 'L' || peek() == 'l') ++i_;  // Python 2 long literal
    return v;
  }
  std::vector<int64_t> tuple() {
    std::vector<int64_t> out;
    expect('(');
    while (!eat(')')) {
      out.push_back(dim());
      if (!eat(',')) {
        expect(')');
        break;
      }
    }
    return out;
  }

  std::string_view s_;
  const Ctx& ctx_;
  size_t i_ = 0;
};

uint32_t read_le(const uint8_t* p, int n) {
  uint32_t v = 0;
  for (int k = n - 1; k >= 0; --k) v = v << 8 | p[k];
  return v;
}

// numel * elem_size into `out`; false on int64 overflow. Zero dims are skipped
// in the check so that the view's strides (products of later dims) still fit.
bool byte_count(const std::vector<int64_t>& shape, ElemType t, size_t& out) {
  int64_t strided = int64_t(elem_size(t));
  bool empty = false;
  for (int64_t d : shape) {
    if (d == 0) empty = true;
    else if (__builtin_mul_overflow(strided, d, &strided)) return false;
  }
  out = empty ? 0 : size_t(strided);
  return true;
}

NpyArray parse(const uint8_t* data, size_t size, const Ctx& ctx) {
  if (size < kMagicLen || std::memcmp(data, kMagic, kMagicLen) != 0)
    throw Error(ctx.name + ": " + (ctx.path.empty() ? "data" : "'" + printable(ctx.path, 200) + "'") +
                " is not a .npy file (bad magic)");
  if (size < kMagicLen + 2)
    ctx.fail("truncated .npy header: " + std::to_string(size) + " bytes, no format version");
  int major = data[6], minor = data[7];
  if (major < 1 || major > 3 || minor != 0)
    ctx.fail("unsupported .npy format version " + std::to_string(major) + "." +
             std::to_string(minor) + " (supported: 1.0, 2.0, 3.0)");
  size_t len_size = major == 1 ? 2 : 4;
  size_t preamble = kMagicLen + 2 + len_size;
  if (size < preamble)
    ctx.fail("truncated .npy header: " + std::to_string(size) + " bytes, no header length");
  size_t header_len = read_le(data + kMagicLen + 2, int(len_size));
  if (size - preamble < header_len)
    ctx.fail("truncated .npy header: expected " + std::to_string(preamble + header_len) +
             " bytes of header, got " + std::to_string(size));

  std::string_view text(reinterpret_cast<const char*>(data + preamble), header_len);
  Header h = HeaderParser(text, ctx).parse();
  if (h.fortran_order)
    ctx.fail("fortran_order True is not supported; save a C-order (row-major) array");

  NpyArray a;
  a.name = ctx.name;
  a.path = ctx.path;
  a.type = descr_type(h.descr, ctx);
  a.shape = std::move(h.shape);
  size_t need = 0;
  if (!byte_count(a.shape, a.type, need))
    ctx.fail("shape " + shape_string(a.shape) + " is too large");
  size_t have = size - preamble - header_len;
  std::string what = "shape " + shape_string(a.shape) + " of " + elem_name(a.type) + " needs " +
                     std::to_string(need) + " bytes of data, ";
  if (have < need) ctx.fail("truncated data: " + what + "got " + std::to_string(have));
  if (have > need)
    ctx.fail("trailing bytes: " + what + "got " + std::to_string(have) + " (" +
             std::to_string(have - need) + " extra)");
  const uint8_t* body = data + preamble + header_len;
  a.bytes.assign(body, body + need);
  return a;
}

}  // namespace

const char* npy_descr(ElemType t) {
  switch (t) {
    case ElemType::f32: return "<f4";
    case ElemType::f16: return "<f2";
    case ElemType::bf16: return "<u2";
    case ElemType::i32: return "<i4";
    case ElemType::u8: return "|u1";
    case ElemType::b8: return "|b1";
  }
  return "?";
}

TensorRef NpyArray::view() const {
  if (shape.size() > size_t(kMaxRank))
    Ctx{name.empty() ? std::string("array") : name, path}.fail(
        "shape " + shape_string(shape) + " has rank " + std::to_string(shape.size()) + "; at most " +
        std::to_string(kMaxRank) + " dimensions are supported");
  return contiguous_view(bytes.data(), type, shape);
}

NpyArray parse_npy(const uint8_t* data, size_t size, const std::string& name) {
  static const std::string no_path;
  return parse(data, size, Ctx{name, no_path});
}

NpyArray read_npy(const std::string& path, const std::string& name) {
  std::vector<uint8_t> file = read_file(path, name);
  return parse(file.data(), file.size(), Ctx{name, path});
}

std::vector<uint8_t> encode_npy(ElemType type, const std::vector<int64_t>& shape,
                                const void* data) {
  std::string dict = std::string("{'descr': '") + npy_descr(type) +
                     "', 'fortran_order': False, 'shape': (";
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] < 0) throw Error("encode_npy: negative dimension in shape " + shape_string(shape));
    dict += (d ? ", " : "") + std::to_string(shape[d]);
  }
  dict += shape.size() == 1 ? ",), }" : "), }";
  size_t nbytes = 0;
  if (!byte_count(shape, type, nbytes))
    throw Error("encode_npy: shape " + shape_string(shape) + " is too large");

  // Version 1.0 stores the header length in 2 bytes; 2.0 in 4.
  auto padded = [&](size_t preamble) {
    size_t used = preamble + dict.size() + 1;  // + '\n'
    return dict.size() + 1 + (kAlign - used % kAlign) % kAlign;
  };
  int major = padded(10) <= 0xffff ? 1 : 2;
  size_t len_size = major == 1 ? 2 : 4;
  size_t header_len = padded(kMagicLen + 2 + len_size);
  if (header_len > 0xffffffffu) throw Error("encode_npy: header too large");

  std::vector<uint8_t> out(kMagic, kMagic + kMagicLen);
  out.reserve(kMagicLen + 2 + len_size + header_len + nbytes);
  out.push_back(uint8_t(major));
  out.push_back(0);
  for (size_t k = 0; k < len_size; ++k) out.push_back(uint8_t(header_len >> (8 * k)));
  out.insert(out.end(), dict.begin(), dict.end());
  out.insert(out.end(), header_len - dict.size() - 1, ' ');
  out.push_back('\n');
  const auto* p = static_cast<const uint8_t*>(data);
  if (nbytes) out.insert(out.end(), p, p + nbytes);
  return out;
}

void write_npy(const std::string& path, ElemType type, const std::vector<int64_t>& shape,
               const void* data) {
  OutputFiles out;
  out.set(out.add_output("", path), encode_npy(type, shape, data));
  out.commit();
}

}  // namespace attngen
