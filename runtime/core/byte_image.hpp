// Length-prefixed fields of a backend's code image (the disk cache payload):
// little-endian u32 numbers, strings and byte runs, read back with bounds checks.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/core/error.hpp"

namespace attngen {

class ImageWriter {
 public:
  explicit ImageWriter(const char* magic, size_t magic_size) : out_(magic, magic + magic_size) {}
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(uint8_t(v >> (8 * i)));
  }
  void bytes(const void* p, size_t n) {
    u32(uint32_t(n));
    const auto* b = static_cast<const uint8_t*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  void string(const std::string& s) { bytes(s.data(), s.size()); }
  std::vector<uint8_t> take() { return std::move(out_); }

 private:
  std::vector<uint8_t> out_;
};

class ImageReader {
 public:
  // Throws Error("<what>: not ...") unless `in` starts with the magic.
  ImageReader(const std::vector<uint8_t>& in, const char* magic, size_t magic_size, std::string what)
      : in_(in), at_(magic_size), what_(std::move(what)) {
    if (in.size() < magic_size || std::memcmp(in.data(), magic, magic_size) != 0)
      throw Error(what_ + ": not an image of this backend");
  }
  uint32_t u32() {
    need(4);
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t(in_[at_++]) << (8 * i);
    return v;
  }
  std::string string() {
    const uint32_t n = u32();
    need(n);
    std::string s(reinterpret_cast<const char*>(in_.data() + at_), n);
    at_ += n;
    return s;
  }
  std::vector<uint8_t> bytes() {
    const uint32_t n = u32();
    need(n);
    std::vector<uint8_t> b(in_.begin() + long(at_), in_.begin() + long(at_ + n));
    at_ += n;
    return b;
  }
  bool at_end() const { return at_ == in_.size(); }

 private:
  void need(size_t n) const {
    if (in_.size() - at_ < n) throw Error(what_ + ": truncated");
  }
  const std::vector<uint8_t>& in_;
  size_t at_;
  std::string what_;
};

}  // namespace attngen
