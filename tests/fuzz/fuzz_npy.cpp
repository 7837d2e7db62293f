// Fuzz target: the .npy reader (parse_npy, runtime/io/npy.cpp). Any input is
// an array or an attngen::Error naming the tensor, never a crash, a hang, an
// allocation the header merely claims, or another exception; an array's bytes
// match its shape and dtype, and writing it back reads back the same.
#include <cstdint>
#include <string>

#include "runtime/core/error.hpp"
#include "runtime/io/npy.hpp"
#include "tests/fuzz/fuzz_checks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace attngen;
  NpyArray a;
  try {
    a = parse_npy(data, size, "t");
  } catch (const Error& e) {
    const std::string m = e.what();
    if (m.rfind("t: ", 0) != 0) fuzz::fail("message does not name the tensor", m);
    fuzz::check_message(m);
    return 0;
  }
  int64_t n = 1;
  for (int64_t d : a.shape) {
    if (d < 0) fuzz::fail("negative extent accepted", std::to_string(d));
    if (__builtin_mul_overflow(n, d, &n)) fuzz::fail("element count overflows", std::to_string(d));
  }
  if (uint64_t(n) * elem_size(a.type) != a.bytes.size()) fuzz::fail("data size does not match the shape", "");
  try {
    const TensorRef v = a.view();
    if (v.numel() != n) fuzz::fail("view disagrees with the shape", "");
  } catch (const Error& e) {
    if (a.shape.size() <= size_t(kMaxRank)) fuzz::fail("view of a rank <= 4 array failed", e.what());
  }
  const std::vector<uint8_t> again = encode_npy(a.type, a.shape, a.bytes.data());
  const NpyArray b = parse_npy(again.data(), again.size(), "t");
  if (b.type != a.type || b.shape != a.shape || b.bytes != a.bytes) fuzz::fail("write/read round trip differs", "");
  return 0;
}
