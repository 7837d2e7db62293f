// Fuzz target: attngen_merge_states (the host merge of partial states) with
// fuzzed descriptors. Fuzzed pointers are never dereferenced by the harness's
// choice: every descriptor points into one real buffer (the arena) or is null;
// part counts, ranks, shapes, strides, dtype codes, offsets, aliasing (merging
// in place) and the LSE values (NaN, infinities) are fuzzed. Properties:
//   * a failed call returns a well-formed message and writes nothing;
//   * a call that succeeds writes nothing but the elements of o and lse.
// Calls whose views are not all inside the arena are not made (the merge
// would read and write where the caller said: the caller's bug, not ours).
// Input: the part count, rank, extents, dtypes, then edits of 12 bytes each.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "attngen/attngen.h"
#include "tests/fuzz/fuzz_checks.hpp"
#include "tests/fuzz/fuzz_tensors.hpp"

namespace fuzz = attngen::fuzz;
using fuzz::Bytes;
using fuzz::dtype_code;
using fuzz::dtype_size;

namespace {

constexpr size_t kArena = size_t(1) << 20;
alignas(64) uint8_t arena[kArena];
uint8_t before[kArena];

// The elements of a view as arena byte offsets, when it is inside the arena
// and has at most `limit` elements; false otherwise. A descriptor the call
// must reject anyway (bad rank or dtype code, negative extent) or an empty
// one has none.
bool footprint(const attngen_tensor& t, size_t limit, std::vector<std::pair<size_t, size_t>>* out) {
  if (t.data == nullptr) return true;
  if (t.rank < 0 || t.rank > 4 || dtype_code(t) < 0 || dtype_code(t) > 5) return true;
  __int128 n = 1;
  for (int d = 0; d < t.rank; ++d) {
    if (t.shape[d] <= 0) return true;
    n *= t.shape[d];
    if (n > __int128(limit)) return false;
  }
  const size_t es = dtype_size(dtype_code(t));
  const __int128 base = static_cast<const uint8_t*>(t.data) - arena;
  int64_t idx[4] = {0, 0, 0, 0};
  for (__int128 e = 0; e < n; ++e) {
    __int128 off = 0;
    for (int d = 0; d < t.rank; ++d) off += __int128(idx[d]) * t.strides[d];
    const __int128 at = base + off * __int128(es);
    if (at < 0 || at + __int128(es) > __int128(kArena)) return false;
    if (out) out->push_back({size_t(at), es});
    for (int d = t.rank - 1; d >= 0; --d) {
      if (++idx[d] < t.shape[d]) break;
      idx[d] = 0;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Bytes in(data, size);
  const int n = 1 + in.u8() % 4;
  const int rank = 2 + in.u8() % 3;
  std::vector<int64_t> shape;
  for (int d = 0; d + 1 < rank; ++d) shape.push_back(in.u8() % 5);
  shape.push_back(in.u8() % 41);  // Dv
  const std::vector<int64_t> lead(shape.begin(), shape.end() - 1);
  static const int kFloat[3] = {ATTNGEN_F32, ATTNGEN_F16, ATTNGEN_BF16};
  std::memset(arena, 0, kArena);

  size_t at = 0;
  std::vector<attngen_tensor> o_parts, lse_parts;
  for (int i = 0; i < n; ++i) {
    o_parts.push_back(fuzz::place(arena, &at, kFloat[in.u8() % 3], shape));
    lse_parts.push_back(fuzz::place(arena, &at, ATTNGEN_F32, lead));
  }
  attngen_tensor o = fuzz::place(arena, &at, kFloat[in.u8() % 3], shape);
  attngen_tensor lse = fuzz::place(arena, &at, ATTNGEN_F32, lead);
  bool with_lse = in.u8() % 4 != 0;
  // Values: O small (0x3c00: 1.0 in f16, small in bf16 and f32), LSEs from a list with the specials.
  for (size_t i = 0; i + 1 < at; i += 2) std::memcpy(arena + i, "\x00\x3c", 2);
  const float lse_values[8] = {0.f, 1.5f, -3.f, 80.f, -80.f, -__builtin_inff(), __builtin_nanf(""), __builtin_inff()};
  for (const attngen_tensor& l : lse_parts) {
    int64_t rows = 1;
    for (int64_t e : lead) rows *= e;
    for (int64_t r = 0; r < rows; ++r) {
      const float v = lse_values[in.u8() % 8];
      std::memcpy(static_cast<uint8_t*>(const_cast<void*>(l.data)) + 4 * r, &v, 4);
    }
  }

  // Edits: 1 byte op, 1 byte target, then a byte or 8.
  const size_t slots = size_t(2 * n + 2);
  const auto slot = [&](size_t k) -> attngen_tensor& {
    return k < size_t(n) ? o_parts[k] : k < size_t(2 * n) ? lse_parts[k - size_t(n)] : k == slots - 2 ? o : lse;
  };
  int parts = n;
  while (!in.empty()) {
    const uint8_t op = in.u8();
    const uint8_t which = in.u8();
    attngen_tensor& x = slot(which % slots);
    if (fuzz::edit_descriptor(x, op, in, arena, kArena)) continue;
    switch (op % 12) {
      case 8: o = o_parts[which % size_t(n)], lse = lse_parts[which % size_t(n)]; break;  // in place
      case 9: with_lse = !with_lse; break;
      case 10: parts = int(int8_t(in.u8())); break;  // num_parts past the arrays is not fuzzed: see below
      case 11: x.shape[op >> 4 & 3] = int64_t(1) << (in.u8() % 63); break;
    }
  }
  parts = std::min(parts, n);  // the API cannot know an array's length; a caller's wrong count is not ours

  // Every view inside the arena and small enough to enumerate, or no call.
  constexpr size_t kLimit = size_t(1) << 16;
  for (size_t k = 0; k < slots; ++k)
    if (!footprint(slot(k), kLimit, nullptr)) return 0;
  std::vector<std::pair<size_t, size_t>> outputs;
  footprint(o, kLimit, &outputs);
  if (with_lse) footprint(lse, kLimit, &outputs);

  std::memcpy(before, arena, kArena);
  const attngen_status st =
      attngen_merge_states(o_parts.data(), lse_parts.data(), parts, &o, with_lse ? &lse : nullptr);
  if (st != ATTNGEN_OK) {
    fuzz::check_message(attngen_last_error());
    if (std::memcmp(before, arena, kArena) != 0) fuzz::fail("a failed merge wrote", attngen_last_error());
    return 0;
  }
  for (const auto& [off, len] : outputs) std::memcpy(before + off, arena + off, len);  // may change
  if (std::memcmp(before, arena, kArena) != 0) {
    size_t first = 0;
    while (before[first] == arena[first]) ++first;
    fuzz::fail("a merge wrote outside o and lse", "arena byte " + std::to_string(first));
  }
  return 0;
}
