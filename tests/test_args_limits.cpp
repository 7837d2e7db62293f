// bind_args and the call split at the limits: null and misaligned data,
// shapes and strides overflowing int64, thread and part counts near INT32_MAX,
// ranks outside 1..4, and a work item that throws.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/core/backend.hpp"
#include "tests/args_fixture.hpp"

namespace attngen::args_test {
namespace {

TEST(Args, NullDataPointer) {
  Call c(kBase);
  c.a.v.data = nullptr;
  EXPECT_ERROR(c, "v: null data pointer");
  Call m(R"({"dtype": "f32", "head_dim": 64, "num_heads": 4, "mask": [{"type": "custom", "format": "bool"}]})");
  m.a.mask.data = nullptr;
  EXPECT_ERROR(m, "mask: null data pointer");
  Call s(R"({"dtype": "f32", "head_dim": 64, "num_heads": 4, "score_mod": [{"type": "alibi"}]})");
  s.a.alibi_slopes.data = nullptr;
  EXPECT_ERROR(s, "alibi_slopes: null data pointer");
}

// A misaligned data pointer made every load of the reference backend (and of
// the x86 driver's lengths, slopes, ...) undefined behaviour (fuzz_api_args,
// UBSan: load of misaligned address); it is an error naming the tensor.
TEST(Args, MisalignedDataPointer) {
  Call c(kBase);
  c.a.q.data = c.q.data() + 2;
  EXPECT_ERROR(c, "q: data pointer 0x", "is not aligned to its 4-byte f32 elements");
  Call h(R"({"dtype": "bf16", "head_dim": 64, "num_heads": 4, "mask": [{"type": "padding"}]})");
  h.a.o.data = h.o.data() + 1;
  EXPECT_ERROR(h, "o: data pointer", "is not aligned to its 2-byte bf16 elements");
  Call p(R"({"dtype": "bf16", "head_dim": 64, "num_heads": 4, "mask": [{"type": "padding"}]})");
  std::vector<int32_t> lens(3, 1);
  p.a.kv_lens.data = reinterpret_cast<const char*>(lens.data()) + 1;
  EXPECT_ERROR(p, "kv_lens: data pointer", "is not aligned to its 4-byte i32 elements");
  // Bytes are always aligned; an empty tensor reads nothing, so any pointer goes.
  Call m(R"({"dtype": "f32", "head_dim": 64, "num_heads": 4, "mask": [{"type": "custom", "format": "bool"}]})");
  m.a.mask.data = m.mask.data() + 1;  // (bind_args reads no bool mask: the view may end past the buffer here)
  EXPECT_EQ(error_of(m), "");
  Call e(kBase);
  for (TensorRef* t : {&e.a.q, &e.a.o}) t->shape[2] = 0, t->data = reinterpret_cast<const char*>(t->data) + 1;
  EXPECT_EQ(error_of(e), "");
}

// Shapes whose element count overflows int64 once wrapped to 0 and let a
// null pointer through (then SIGSEGV in the kernel). Every tensor of such a
// call is checked: null data, the element count, and strides reaching past
// 2^63 bytes are all errors naming the tensor.
TEST(Args, ShapesAndStridesOverflowingInt64AreRejected) {
  const char* spec = R"({"dtype": "f32", "head_dim": 8, "num_heads": 2})";
  const int64_t huge = int64_t(1) << 62;  // 2^62 * 2 * 4 * 8 = 2^68: 0 modulo 2^64
  Call null_data(spec);
  for (TensorRef* t : {&null_data.a.q, &null_data.a.k, &null_data.a.v, &null_data.a.o}) {
    *t = contiguous_view(nullptr, ElemType::f32, {huge, 2, 4, 8});
  }
  EXPECT_ERROR(null_data, "q: null data pointer");

  Call count(spec);
  for (TensorRef* t : {&count.a.q, &count.a.k, &count.a.v, &count.a.o}) t->shape[0] = huge, t->shape[2] = 4;
  EXPECT_ERROR(count, "q: shape [4611686018427387904, 2, 4, 8] has more than 2^63 elements");

  Call stride(spec);
  stride.a.k.stride[1] = huge / 2;  // 2^61 elements of 4 bytes: 2^63 bytes
  EXPECT_ERROR(stride, "k: strides [", "reach elements more than 2^63 bytes apart");
  Call negative(spec);
  negative.a.v.stride[0] = INT64_MIN;
  EXPECT_ERROR(negative, "v: strides [", "more than 2^63 bytes");

  // A zero extent makes any tensor empty: no pointer needed, nothing overflows.
  Call empty(spec);
  for (TensorRef* t : {&empty.a.q, &empty.a.o}) *t = contiguous_view(nullptr, ElemType::f32, {huge, 2, 0, 8});
  EXPECT_ERROR(empty, "k: dimension 0 (B) must be 4611686018427387904, got 2");

  Call mask(R"({"dtype": "f32", "head_dim": 8, "num_heads": 2, "mask": [{"type": "custom", "format": "bool"}]})");
  mask.a.mask.stride[3] = INT64_MAX;
  EXPECT_ERROR(mask, "mask: strides [", "more than 2^63 bytes");
}

TEST(Args, ContiguousViewOfAnOverflowingShapeIsWellDefined) {
  const int64_t huge = int64_t(1) << 62;
  const TensorRef t = contiguous_view(nullptr, ElemType::f32, {huge, 2, 4, 8});
  EXPECT_EQ(t.stride[3], 1);
  EXPECT_EQ(t.stride[2], 8);
  EXPECT_EQ(t.stride[1], 32);
  EXPECT_EQ(t.stride[0], 64);
  EXPECT_EQ(t.numel(), -1);
  const TensorRef u = contiguous_view(nullptr, ElemType::f32, {3, huge, huge, 8});
  EXPECT_EQ(u.stride[2], 8);  // 8 * 2^62 overflows: the strides above it stay 0
  EXPECT_EQ(u.stride[1], 0);
  EXPECT_EQ(u.stride[0], 0);
  EXPECT_EQ(contiguous_view(nullptr, ElemType::f32, {0, huge, huge, huge}).numel(), 0);
}

// A thread or part count near INT32_MAX overflowed int arithmetic in the
// planner's split (UBSan: signed-integer-overflow in split_keys); the core
// clamps it to kMaxParts, and the call computes what one thread does.
TEST(Args, HugeThreadAndPartCountsAreClamped) {
  const Spec s = parse_spec(R"({"dtype": "f32", "head_dim": 16, "num_heads": 2, "mask": [{"type": "padding"}]})");
  for (const char* name : {"auto", "reference"}) {
    const std::unique_ptr<Kernel> k = select_backend(name, s).compile(s);
    Call one(R"({"dtype": "f32", "head_dim": 16, "num_heads": 2, "mask": [{"type": "padding"}]})");
    Call many(R"({"dtype": "f32", "head_dim": 16, "num_heads": 2, "mask": [{"type": "padding"}]})");
    for (Call* c : {&one, &many})
      for (std::vector<uint8_t>* t : {&c->q, &c->k, &c->v})
        for (size_t i = 0; i < t->size() / 4; ++i) {
          const float x = float(int(i * 37 % 101) - 50) / 50.f;
          std::memcpy(t->data() + 4 * i, &x, 4);
        }
    k->run(one.a, RunOptions{1});
    k->run(many.a, RunOptions{INT32_MAX});
    const std::unique_ptr<CallPlan> plan = k->prepare(many.a, INT32_MAX);
    EXPECT_GE(plan->items(), 1u) << name;
    EXPECT_LE(plan->items(), size_t(kMaxParts)) << name;
    for (size_t i = 0; i < plan->items(); ++i) plan->run_item(i);
    for (size_t i = 0; i < one.o.size(); i += 4) {
      float x, y;
      std::memcpy(&x, &one.o[i], 4), std::memcpy(&y, &many.o[i], 4);
      EXPECT_NEAR(x, y, 1e-5f * (1 + std::fabs(x))) << name << " at " << i / 4;
    }
  }
}

TEST(Args, RanksOutsideOneToFourAreErrors) {
  Call m(R"({"dtype": "f32", "head_dim": 64, "num_heads": 4, "mask": [{"type": "custom", "format": "bool"}]})");
  m.a.mask.rank = 0;
  m.a.mask.data = m.mask.data();
  EXPECT_ERROR(m, "mask: expected rank 1 to 4 broadcasting to [B, Hq, Sq, Skv] = [2, 4, 5, 7], got shape []");
  EXPECT_THROW(contiguous_view(nullptr, ElemType::f32, {1, 2, 3, 4, 5}), Error);
}

// An item that throws while other threads run the rest: the call still
// completes every other item, then the first error reaches the caller.
TEST(Args, AnItemThatThrowsReachesTheCallerAfterTheOthersRan) {
  struct Plan final : CallPlan {
    mutable std::atomic<int> ran{0};
    size_t items() const override { return 64; }
    void run_item(size_t i) const override {
      ++ran;
      if (i % 16 == 5) throw Error("item " + std::to_string(i) + " failed");
    }
  } plan;
  try {
    run_items(plan, 4);
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(" failed"), std::string::npos);
  }
  EXPECT_EQ(plan.ran.load(), 64);
}

}  // namespace
}  // namespace attngen::args_test
