// Fuzz target: the C API's argument checks (attngen_kernel_run and
// attngen_kernel_prepare) with fuzzed tensor descriptors on small compiled
// kernels. Fuzzed pointers are never dereferenced: every descriptor points
// into one real buffer (the arena) or is null; shapes, strides, dtype codes,
// ranks, offsets and the buffer's contents (lengths, document ids, mask
// values) are fuzzed. A call either returns a status with a message or, when
// it runs, touches nothing outside the tensors' views:
//   * every view inside the arena (the harness checks this itself): run it;
//   * the tensors read while checking and planning (lengths, documents, mask,
//     slopes) inside, the others not: prepare only, and run nothing.
// Input: kernel, threads, the problem (B, Sq, Skv), then edits of 12 bytes each.
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

struct Compiled {
  const char* spec;
  const char* backend;
  attngen_kernel* k = nullptr;
  attngen_kernel_info info{};
};
Compiled kernels[] = {
    {R"({"dtype": "f32", "head_dim": 8, "num_heads": 4, "num_kv_heads": 2, "return_lse": true,
        "mask": [{"type": "padding"}, {"type": "causal", "align": "bottom_right"}]})", "auto"},
    {R"({"dtype": "f32", "head_dim": 8, "num_heads": 4, "num_kv_heads": 2, "return_lse": true,
        "mask": [{"type": "padding"}, {"type": "causal", "align": "bottom_right"}]})", "reference"},
    {R"({"dtype": "f16", "head_dim": 8, "num_heads": 2, "layout": "bshd",
        "mask": [{"type": "custom", "format": "additive"}], "score_mod": [{"type": "alibi"}]})", "auto"},
    {R"({"dtype": "bf16", "head_dim": 16, "head_dim_v": 8, "num_heads": 2,
        "mask": [{"type": "document"}, {"type": "prefix_lm"}]})", "auto"},
    {R"({"dtype": "bf16", "head_dim": 16, "head_dim_v": 8, "num_heads": 2,
        "mask": [{"type": "document"}, {"type": "prefix_lm"}]})", "reference"},
    {R"({"dtype": "f32", "head_dim": 8, "num_heads": 2, "seq_len_q": 1,
        "mask": [{"type": "custom", "format": "bool"}, {"type": "sliding_window", "left": 3, "right": 1, "align": "top_left"}]})", "auto"},
};

// Whether every element a checker or kernel could touch through `t` lies in
// the arena. Descriptors the API must reject anyway (a bad rank or dtype code,
// a negative extent) touch nothing; neither does an empty one.
bool inside(const attngen_tensor& t) {
  if (t.data == nullptr) return true;  // null: an error unless empty
  if (t.rank < 0 || t.rank > 4 || dtype_code(t) < 0 || dtype_code(t) > 5) return true;
  __int128 lo = 0, hi = 0;
  for (int d = 0; d < t.rank; ++d) {
    if (t.shape[d] < 0) return true;
    if (t.shape[d] == 0) return true;
    const __int128 span = __int128(t.shape[d] - 1) * t.strides[d];  // |span| < 2^126
    // An axis reaching farther than the arena is long leaves it whatever the
    // base; checked first, so that the sums below stay small (crash-a4a0d7d4).
    if (span > __int128(kArena) || span < -__int128(kArena)) return false;
    (span < 0 ? lo : hi) += span;
  }
  const __int128 es = __int128(dtype_size(dtype_code(t)));
  const __int128 base = static_cast<const uint8_t*>(t.data) - arena;
  return base + lo * es >= 0 && base + (hi + 1) * es <= __int128(kArena);
}

// a * b for counts >= 0, saturating at 2^62 (four fuzzed int64 extents
// overflow even __int128: crash-fc25cfb6).
__int128 saturating_mul(__int128 a, __int128 b) {
  constexpr __int128 cap = __int128(1) << 62;
  if (a <= 0 || b <= 0) return 0;
  return a > cap / b ? cap : std::min(a * b, cap);
}

__int128 elements(const attngen_tensor& t) {
  __int128 n = 1;
  for (int d = 0; d < t.rank && d < 4; ++d) n = saturating_mul(n, t.shape[d] < 0 ? 0 : t.shape[d]);
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  for (Compiled& c : kernels) {
    attngen_compile_options o;
    attngen_compile_options_init(&o);
    o.backend = c.backend;
    if (attngen_kernel_compile(c.spec, &o, &c.k) != ATTNGEN_OK ||
        attngen_kernel_get_info(c.k, &c.info) != ATTNGEN_OK)
      fuzz::fail("cannot compile a fuzzing kernel", attngen_last_error());
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool ready = (LLVMFuzzerInitialize(nullptr, nullptr), true);
  (void)ready;
  Bytes in(data, size);
  const Compiled& c = kernels[in.u8() % std::size(kernels)];
  const uint8_t t = in.u8();
  const int32_t threads = t == 255 ? INT32_MAX : t % 4;
  const attngen_kernel_info& s = c.info;
  const std::string spec = c.spec;
  const int64_t B = in.u8() % 4;
  const int64_t Sq = spec.find("seq_len_q") != std::string::npos ? 1 : in.u8() % 41;
  const int64_t Skv = in.u8() % 71;
  const int64_t H = s.num_heads, Hkv = s.num_kv_heads, D = s.head_dim, Dv = s.head_dim_v;
  const int dt = s.dtype;
  std::memset(arena, 0, kArena);

  // A valid call of this kernel's spec, every tensor in the arena.
  size_t at = 0;
  auto shape = [&](int64_t h, int64_t sq, int64_t d) {
    return s.layout_bshd ? std::vector<int64_t>{B, sq, h, d} : std::vector<int64_t>{B, h, sq, d};
  };
  attngen_args a{};
  attngen_tensor* slots[12] = {&a.q, &a.k, &a.v, &a.o, &a.lse, &a.q_lens, &a.kv_lens, &a.q_doc, &a.kv_doc,
                               &a.mask, &a.alibi_slopes, &a.prefix_lens};
  a.q = fuzz::place(arena, &at, dt, shape(H, Sq, D));
  a.k = fuzz::place(arena, &at, dt, shape(Hkv, Skv, D));
  a.v = fuzz::place(arena, &at, dt, shape(Hkv, Skv, Dv));
  a.o = fuzz::place(arena, &at, dt, shape(H, Sq, Dv));
  if (s.writes_lse) a.lse = fuzz::place(arena, &at, ATTNGEN_F32, {B, H, Sq});
  // Small values in Q, K, V: 0x3c00 is 1.0 in f16; bf16 and f32 read it as small numbers.
  for (attngen_tensor* x : {&a.q, &a.k, &a.v})
    for (size_t i = 0; i + 1 < size_t(elements(*x)) * dtype_size(dt); i += 2)
      std::memcpy(static_cast<uint8_t*>(const_cast<void*>(x->data)) + i, "\x00\x3c", 2);
  auto lengths = [&](attngen_tensor* x, int64_t max) {
    int32_t* p = static_cast<int32_t*>(const_cast<void*>(x->data));
    for (int64_t b = 0; b < x->shape[0]; ++b) p[b] = int32_t(in.u8() % (max + 1));
  };
  if (spec.find("padding") != std::string::npos) {
    a.kv_lens = fuzz::place(arena, &at, ATTNGEN_I32, {B});
    a.q_lens = fuzz::place(arena, &at, ATTNGEN_I32, {B});
    lengths(&a.kv_lens, Skv), lengths(&a.q_lens, Sq);
  }
  if (spec.find("document") != std::string::npos) {
    a.q_doc = fuzz::place(arena, &at, ATTNGEN_I32, {B, Sq});
    a.kv_doc = fuzz::place(arena, &at, ATTNGEN_I32, {B, Skv});
    for (attngen_tensor* x : {&a.q_doc, &a.kv_doc})
      for (int64_t i = 0; i < elements(*x); ++i) static_cast<int32_t*>(const_cast<void*>(x->data))[i] = i / 7;
  }
  if (spec.find("prefix_lm") != std::string::npos) {
    a.prefix_lens = fuzz::place(arena, &at, ATTNGEN_I32, {B});
    lengths(&a.prefix_lens, Skv);
  }
  if (spec.find("additive") != std::string::npos) a.mask = fuzz::place(arena, &at, ATTNGEN_F32, {B, H, Sq, Skv});
  if (spec.find("bool") != std::string::npos) {
    a.mask = fuzz::place(arena, &at, ATTNGEN_BOOL, {Sq, Skv});
    std::memset(const_cast<void*>(a.mask.data), 1, size_t(Sq * Skv));
  }
  if (spec.find("alibi") != std::string::npos) {
    a.alibi_slopes = fuzz::place(arena, &at, ATTNGEN_F32, {H});
    for (int64_t h = 0; h < H; ++h) static_cast<float*>(const_cast<void*>(a.alibi_slopes.data))[h] = 0.5f;
  }

  // Edits: 1 byte op, 1 byte target, 2 bytes small value or 8 bytes raw.
  while (!in.empty()) {
    const uint8_t op = in.u8();
    attngen_tensor& x = *slots[in.u8() % 12];
    if (fuzz::edit_descriptor(x, op, in, arena, kArena)) continue;
    switch (op % 12) {
      case 8: x = attngen_tensor{}; break;
      case 9: {  // a byte of the arena: lengths, document ids, mask values
        const uint64_t off = uint64_t(in.i64()) % kArena;
        arena[off] = in.u8();
        break;
      }
      case 10: {  // a float of the arena (an additive mask's -inf, NaN, +inf)
        const uint64_t off = (uint64_t(in.i64()) % (kArena / 4)) * 4;
        const float v[4] = {-__builtin_inff(), __builtin_nanf(""), __builtin_inff(), -1e30f};
        std::memcpy(arena + off, &v[in.u8() % 4], 4);
        break;
      }
      case 11: x.shape[op >> 4 & 3] = int64_t(1) << (in.u8() % 63); break;
    }
  }

  bool small_inside = true, all_inside = true;
  for (int i = 0; i < 12; ++i) {
    const bool ok = inside(*slots[i]);
    all_inside = all_inside && ok;
    if (i >= 5) small_inside = small_inside && ok;
  }
  if (!small_inside) return 0;  // a checker may read a view outside the arena: the caller's bug, not ours
  // Work bound: a run computes about |Q| x Skv multiply-adds.
  const __int128 work = saturating_mul(elements(a.q), a.k.rank == 4 ? a.k.shape[s.layout_bshd ? 1 : 2] : 1);
  if (all_inside && work < (__int128(1) << 22)) {
    const attngen_status st = attngen_kernel_run(c.k, &a, threads);
    if (st != ATTNGEN_OK) fuzz::check_message(attngen_last_error());
  }
  attngen_call* call = nullptr;
  const attngen_status st = attngen_kernel_prepare(c.k, &a, threads == 0 ? 1 : threads, &call);
  if (st != ATTNGEN_OK) {
    fuzz::check_message(attngen_last_error());
    if (call) fuzz::fail("a failed prepare returned a call", "");
    return 0;
  }
  size_t items = 0;
  if (attngen_call_items(call, &items) != ATTNGEN_OK) fuzz::fail("a prepared call has no item count", attngen_last_error());
  if (all_inside && work < (__int128(1) << 22))
    for (size_t i = 0; i < items; ++i)
      if (attngen_call_run_item(call, i) != ATTNGEN_OK) fuzz::fail("an item failed", attngen_last_error());
  attngen_call_release(call);
  return 0;
}
