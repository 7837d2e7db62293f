// bind_args: every rejection names the argument and says what was expected and
// what came; accepted arguments come out in the logical [B,H,S,D] shape with
// broadcast axes at stride 0; strided views (fused QKV buffers, KV caches with
// spare capacity) compute exactly what contiguous copies do.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "codegen/spec/spec.hpp"
#include "runtime/core/args.hpp"
#include "runtime/core/backend.hpp"
#include "runtime/core/error.hpp"
#include "runtime/core/half.hpp"
#include "runtime/core/tensor.hpp"
#include "runtime/reference/reference.hpp"
#include "tests/args_fixture.hpp"

namespace attngen::args_test {
namespace {

TEST(Args, ValidCallsBind) {
  for (const char* json :
       {kBase,
        R"({"dtype": "bf16", "head_dim": 64, "head_dim_v": 32, "num_heads": 4, "num_kv_heads": 2, "layout": "bshd", "return_lse": true})",
        R"({"dtype": "f16", "head_dim": 8, "num_heads": 2, "mask": [{"type": "padding"}, {"type": "document"},
            {"type": "prefix_lm"}, {"type": "custom", "format": "additive"}], "score_mod": [{"type": "alibi"}]})",
        R"({"dtype": "f32", "head_dim": 8, "num_heads": 2, "seq_len_q": 1, "seq_len_kv": 9, "mask": [{"type": "custom", "format": "bool"}]})"}) {
    Call c(json);
    EXPECT_EQ(error_of(c), "") << json;
    const BoundArgs b = bind_args(c.spec, c.a);
    EXPECT_EQ(b.batch, c.B);
    EXPECT_EQ(b.sq, c.Sq);
    EXPECT_EQ(b.skv, c.Skv);
  }
}

TEST(Args, WrongDtype) {
  Call c(kBase);
  c.a.q.type = ElemType::f16;
  EXPECT_ERROR(c, "q: expected dtype f32, got f16");
  Call d(kBase);
  d.a.o.type = ElemType::bf16;
  EXPECT_ERROR(d, "o: expected dtype f32, got bf16");
}

TEST(Args, WrongRank) {
  Call c(kBase);
  c.a.q.rank = 3;
  EXPECT_ERROR(c, "q: expected a rank-4 tensor", "[B, 4, Sq, 64]", "got shape [2, 4, 5]");
  // bshd names the axes in its own order.
  Call b(R"({"dtype": "f32", "head_dim": 64, "num_heads": 4, "num_kv_heads": 2, "layout": "bshd"})");
  b.a.k.rank = 2;
  EXPECT_ERROR(b, "k: expected a rank-4 tensor", "[2, Skv, 2, 64]", "got shape [2, 7]");
}

TEST(Args, WrongHeadDim) {
  Call c(kBase);
  std::vector<float> small(size_t(2 * 4 * 5 * 32));
  c.a.q = contiguous_view(small.data(), ElemType::f32, {2, 4, 5, 32});
  EXPECT_ERROR(c, "q: dimension 3 (head_dim) must be 64, got 32");
  Call v(R"({"dtype": "f32", "head_dim": 64, "head_dim_v": 16, "num_heads": 4})");
  v.a.v.shape[3] = 64;
  EXPECT_ERROR(v, "v: dimension 3 (head_dim_v) must be 16, got 64");
}

TEST(Args, WrongHeadCounts) {
  Call c(kBase);
  c.a.k.shape[1] = 4;
  EXPECT_ERROR(c, "k: dimension 1 (num_kv_heads) must be 2, got 4");
  Call o(kBase);
  o.a.o.shape[1] = 2;
  EXPECT_ERROR(o, "o: dimension 1 (num_heads) must be 4, got 2");
}

TEST(Args, BatchMismatchBetweenQAndK) {
  Call c(kBase);
  c.a.k.shape[0] = 3;
  EXPECT_ERROR(c, "k: dimension 0 (B) must be 2, got 3");
}

TEST(Args, KeyLengthMismatchBetweenKAndV) {
  Call c(kBase);
  c.a.v.shape[2] = 6;
  EXPECT_ERROR(c, "v: dimension 2 (Skv) must be 7, got 6");
  Call b(R"({"dtype": "f32", "head_dim": 64, "num_heads": 4, "num_kv_heads": 2, "layout": "bshd"})");
  b.a.v.shape[1] = 8;
  EXPECT_ERROR(b, "v: dimension 1 (Skv) must be 7, got 8");
}

TEST(Args, QueryLengthMismatchBetweenQAndO) {
  Call c(kBase);
  c.a.o.shape[2] = 4;
  EXPECT_ERROR(c, "o: dimension 2 (Sq) must be 5, got 4");
}

TEST(Args, SequenceLengthsFixedBySpec) {
  Call c(R"({"dtype": "f32", "head_dim": 64, "num_heads": 4, "seq_len_q": 1, "seq_len_kv": 7})");
  EXPECT_EQ(error_of(c), "");
  std::vector<float> q4(size_t(2 * 4 * 4 * 64));
  c.a.q = contiguous_view(q4.data(), ElemType::f32, {2, 4, 4, 64});
  EXPECT_ERROR(c, "q: dimension 2 (Sq) must be 1, got 4");
  Call k(R"({"dtype": "f32", "head_dim": 64, "num_heads": 4, "seq_len_kv": 6})");
  k.a.k.shape[2] = 7;
  EXPECT_ERROR(k, "k: dimension 2 (Skv) must be 6, got 7");
}

TEST(Args, PaddingLengths) {
  const char* spec = R"({"dtype": "f32", "head_dim": 64, "num_heads": 4, "mask": [{"type": "padding"}]})";
  Call missing(spec);
  missing.a.kv_lens = {};
  EXPECT_ERROR(missing, "kv_lens: required by the spec but not given");
  Call too_long(spec);
  too_long.kv_lens[1] = 8;
  EXPECT_ERROR(too_long, "kv_lens[1]: must be in [0, 7]", "got 8");
  Call negative(spec);
  negative.kv_lens[0] = -1;
  EXPECT_ERROR(negative, "kv_lens[0]: must be in [0, 7]", "got -1");
  Call q_long(spec);
  q_long.q_lens[0] = 6;
  EXPECT_ERROR(q_long, "q_lens[0]: must be in [0, 5]", "got 6");
  Call q_neg(spec);
  q_neg.q_lens[1] = -3;
  EXPECT_ERROR(q_neg, "q_lens[1]: must be in [0, 5]", "got -3");
  // q_lens is optional; zero lengths are fine.
  Call no_q(spec);
  no_q.a.q_lens = {};
  no_q.kv_lens = {0, 7};
  EXPECT_EQ(error_of(no_q), "");
  Call wrong_type(spec);
  wrong_type.a.kv_lens.type = ElemType::f32;
  EXPECT_ERROR(wrong_type, "kv_lens: expected dtype i32, got f32");
  Call wrong_b(spec);
  wrong_b.a.kv_lens.shape[0] = 1;
  EXPECT_ERROR(wrong_b, "kv_lens: dimension 0 (B) must be 2, got 1");
}

TEST(Args, PrefixLens) {
  Call c(R"({"dtype": "f32", "head_dim": 64, "num_heads": 4, "mask": [{"type": "prefix_lm"}]})");
  c.prefix_lens[1] = -1;
  EXPECT_ERROR(c, "prefix_lens[1]: must be in [0, ", "got -1");
  c.a.prefix_lens = {};
  EXPECT_ERROR(c, "prefix_lens: required by the spec but not given");
  Call s(R"({"dtype": "f32", "head_dim": 64, "num_heads": 4, "mask": [{"type": "prefix_lm", "prefix": 3}]})");
  std::vector<int32_t> p = {1, 1};
  s.a.prefix_lens = contiguous_view(p.data(), ElemType::i32, {2});
  EXPECT_ERROR(s, "prefix_lens: given, but the spec has no prefix_lm mask without a static prefix");
}

TEST(Args, DocumentIds) {
  Call c(R"({"dtype": "f32", "head_dim": 64, "num_heads": 4, "mask": [{"type": "document"}]})");
  c.a.kv_doc.shape[1] = 5;
  EXPECT_ERROR(c, "kv_doc: dimension 1 (Skv) must be 7, got 5");
  c.a.q_doc = {};
  EXPECT_ERROR(c, "q_doc: required by the spec but not given");
}

TEST(Args, TensorsTheSpecDoesNotUse) {
  Call c(kBase);
  std::vector<uint8_t> m(35, 1);
  c.a.mask = contiguous_view(m.data(), ElemType::b8, {5, 7});
  EXPECT_ERROR(c, "mask: given, but the spec has no custom mask");
  Call k(kBase);
  std::vector<int32_t> lens = {1, 1};
  k.a.kv_lens = contiguous_view(lens.data(), ElemType::i32, {2});
  EXPECT_ERROR(k, "kv_lens: given, but the spec has no padding mask");
  Call q(kBase);
  q.a.q_lens = contiguous_view(lens.data(), ElemType::i32, {2});
  EXPECT_ERROR(q, "q_lens: given, but the spec has no padding mask");
  Call d(kBase);
  d.a.q_doc = contiguous_view(lens.data(), ElemType::i32, {2, 1});
  EXPECT_ERROR(d, "q_doc: given, but the spec has no document mask");
  Call s(kBase);
  std::vector<float> sl(4);
  s.a.alibi_slopes = contiguous_view(sl.data(), ElemType::f32, {4});
  EXPECT_ERROR(s, "alibi_slopes: given, but the spec has no alibi score mod");
}

TEST(Args, Lse) {
  Call missing(R"({"dtype": "f32", "head_dim": 64, "num_heads": 4, "return_lse": true})");
  missing.a.lse = {};
  EXPECT_ERROR(missing, "lse: required by the spec but not given");
  Call extra(kBase);
  std::vector<float> l(2 * 4 * 5);
  extra.a.lse = contiguous_view(l.data(), ElemType::f32, {2, 4, 5});
  EXPECT_ERROR(extra, "lse: given, but the spec has no return_lse: true");
  Call shape(R"({"dtype": "bf16", "head_dim": 64, "num_heads": 4, "return_lse": true})");
  shape.a.lse.shape[2] = 6;
  EXPECT_ERROR(shape, "lse: dimension 2 (Sq) must be 5, got 6");
  Call type(R"({"dtype": "bf16", "head_dim": 64, "num_heads": 4, "return_lse": true})");
  type.a.lse.type = ElemType::bf16;
  EXPECT_ERROR(type, "lse: expected dtype f32, got bf16");
}

TEST(Args, CustomMaskShapeAndDtype) {
  const char* boolean = R"({"dtype": "f32", "head_dim": 64, "num_heads": 4, "mask": [{"type": "custom", "format": "bool"}]})";
  Call bad_shape(boolean);
  bad_shape.a.mask = contiguous_view(bad_shape.mask.data(), ElemType::b8, {3, 7});
  EXPECT_ERROR(bad_shape, "mask: shape [3, 7] does not broadcast to [B, Hq, Sq, Skv] = [2, 4, 5, 7]");
  Call bad_heads(boolean);
  bad_heads.a.mask = contiguous_view(bad_heads.mask.data(), ElemType::b8, {2, 2, 5, 7});
  EXPECT_ERROR(bad_heads, "mask: shape [2, 2, 5, 7] does not broadcast", "axis 1");
  Call f32_for_bool(boolean);
  f32_for_bool.a.mask.type = ElemType::f32;
  EXPECT_ERROR(f32_for_bool, "mask: expected dtype bool or u8 (bool format), got f32");
  Call u8(boolean);
  u8.a.mask.type = ElemType::u8;
  EXPECT_EQ(error_of(u8), "");
  Call missing(boolean);
  missing.a.mask = {};
  EXPECT_ERROR(missing, "mask: required");
  Call additive(R"({"dtype": "f16", "head_dim": 64, "num_heads": 4, "mask": [{"type": "custom", "format": "additive"}]})");
  additive.a.mask.type = ElemType::b8;
  EXPECT_ERROR(additive, "mask: expected dtype f32 or f16 (additive), got bool");
  additive.a.mask.type = ElemType::bf16;
  EXPECT_ERROR(additive, "got bf16");
  additive.a.mask.type = ElemType::f16;
  EXPECT_EQ(error_of(additive), "");
}

TEST(Args, AlibiSlopes) {
  const char* spec = R"({"dtype": "f32", "head_dim": 64, "num_heads": 4, "score_mod": [{"type": "alibi"}]})";
  Call c(spec);
  std::vector<float> three(3);
  c.a.alibi_slopes = contiguous_view(three.data(), ElemType::f32, {3});
  EXPECT_ERROR(c, "alibi_slopes: expected shape [4] or [2, 4], got [3]");
  std::vector<float> wrong_b(12);
  c.a.alibi_slopes = contiguous_view(wrong_b.data(), ElemType::f32, {3, 4});
  EXPECT_ERROR(c, "alibi_slopes: expected shape [4] or [2, 4], got [3, 4]");
  c.a.alibi_slopes = contiguous_view(wrong_b.data(), ElemType::f16, {4});
  EXPECT_ERROR(c, "alibi_slopes: expected dtype f32, got f16");
  c.a.alibi_slopes = {};
  EXPECT_ERROR(c, "alibi_slopes: required");
}

TEST(Args, MaskBroadcastingGivesZeroStrides) {
  const char* spec = R"({"dtype": "f32", "head_dim": 64, "num_heads": 4, "mask": [{"type": "custom", "format": "bool"}]})";
  struct Case {
    std::vector<int64_t> shape;
    int64_t stride[4];
  };
  const Case cases[] = {
      {{5, 7}, {0, 0, 7, 1}},              // [Sq, Skv]
      {{2, 1, 5, 7}, {35, 0, 7, 1}},       // [B, 1, Sq, Skv]
      {{2, 4, 5, 7}, {140, 35, 7, 1}},     // full
      {{7}, {0, 0, 0, 1}},                 // [Skv]
      {{5, 1}, {0, 0, 1, 0}},              // [Sq, 1]
      {{4, 1, 1}, {0, 1, 0, 0}},           // [Hq, 1, 1]
      {{1, 1, 1, 1}, {0, 0, 0, 0}},        // one value
  };
  for (const Case& k : cases) {
    Call c(spec);
    c.a.mask = contiguous_view(c.mask.data(), ElemType::b8, k.shape);
    const BoundArgs b = bind_args(c.spec, c.a);
    EXPECT_EQ(b.t.mask.rank, 4);
    const int64_t full[4] = {2, 4, 5, 7};
    for (int d = 0; d < 4; ++d) {
      EXPECT_EQ(b.t.mask.shape[d], full[d]) << shape_string(k.shape) << " axis " << d;
      EXPECT_EQ(b.t.mask.stride[d], k.stride[d]) << shape_string(k.shape) << " axis " << d;
    }
    EXPECT_EQ(b.t.mask.data, c.mask.data());
  }
}

TEST(Args, AlibiSlopesBecomeBatchByHeads) {
  Call c(R"({"dtype": "f32", "head_dim": 64, "num_heads": 4, "score_mod": [{"type": "alibi"}]})");
  BoundArgs b = bind_args(c.spec, c.a);
  EXPECT_EQ(b.t.alibi_slopes.rank, 2);
  EXPECT_EQ(b.t.alibi_slopes.shape[0], 2);
  EXPECT_EQ(b.t.alibi_slopes.shape[1], 4);
  EXPECT_EQ(b.t.alibi_slopes.stride[0], 0);
  EXPECT_EQ(b.t.alibi_slopes.stride[1], 1);
  std::vector<float> per_batch(8);
  c.a.alibi_slopes = contiguous_view(per_batch.data(), ElemType::f32, {2, 4});
  b = bind_args(c.spec, c.a);
  EXPECT_EQ(b.t.alibi_slopes.stride[0], 4);
  EXPECT_EQ(b.t.alibi_slopes.stride[1], 1);
}

TEST(Args, BshdViewsArePermutedToLogicalShape) {
  Call c(R"({"dtype": "f32", "head_dim": 64, "head_dim_v": 32, "num_heads": 4, "num_kv_heads": 2, "layout": "bshd"})");
  const BoundArgs b = bind_args(c.spec, c.a);
  auto expect_view = [](const TensorRef& t, std::vector<int64_t> shape, std::vector<int64_t> stride, const char* n) {
    for (int d = 0; d < 4; ++d) {
      EXPECT_EQ(t.shape[d], shape[size_t(d)]) << n << " axis " << d;
      EXPECT_EQ(t.stride[d], stride[size_t(d)]) << n << " axis " << d;
    }
  };
  // Stored [B, S, H, D]; logical [B, H, S, D] with the middle strides swapped.
  expect_view(b.t.q, {2, 4, 5, 64}, {5 * 4 * 64, 64, 4 * 64, 1}, "q");
  expect_view(b.t.k, {2, 2, 7, 64}, {7 * 2 * 64, 64, 2 * 64, 1}, "k");
  expect_view(b.t.v, {2, 2, 7, 32}, {7 * 2 * 32, 32, 2 * 32, 1}, "v");
  expect_view(b.t.o, {2, 4, 5, 32}, {5 * 4 * 32, 32, 4 * 32, 1}, "o");
  Call h(kBase);
  const BoundArgs bh = bind_args(h.spec, h.a);
  expect_view(bh.t.q, {2, 4, 5, 64}, {4 * 5 * 64, 5 * 64, 64, 1}, "bhsd q");
}

// ---------------------------------------------------------------- strided views

double value(uint64_t n) { return std::sin(double(n) * 0.7311 + 0.2) * 1.5; }

void put_elem(uint8_t* p, ElemType t, double x) {
  if (t == ElemType::f32) {
    const float f = float(x);
    std::memcpy(p, &f, 4);
  } else {
    const uint16_t h = t == ElemType::f16 ? double_to_f16(x) : double_to_bf16(x);
    std::memcpy(p, &h, 2);
  }
}

// Compares the reference on views into one fused buffer with a run on dense
// copies of the same elements, bit for bit.
void check_fused(const std::string& dtype, Layout layout) {
  const bool bshd = layout == Layout::bshd;
  Spec s = parse_spec(R"({"dtype": ")" + dtype + R"(", "head_dim": 8, "num_heads": 4, "num_kv_heads": 2, "layout": ")" +
                      (bshd ? "bshd" : "bhsd") +
                      R"(", "return_lse": true, "mask": [{"type": "causal", "align": "bottom_right"}]})");
  const ElemType t = s.dtype;
  const size_t es = elem_size(t);
  const int64_t B = 2, Sq = 3, Skv = 5, cap = 9, Hq = 4, Hkv = 2, D = 8;
  // K and V of each KV head interleaved in one cache [B, Hkv, cap, 2 * D]
  // (bhsd) or [B, cap, Hkv, 2 * D] (bshd), only the first Skv positions live.
  // Q sits in a fused buffer [B, Hq, Sq, 3 * D] / [B, Sq, Hq, 3 * D] at offset D.
  std::vector<uint8_t> cache(size_t(B * Hkv * cap * 2 * D) * es), qbuf(size_t(B * Hq * Sq * 3 * D) * es);
  for (size_t i = 0; i < cache.size() / es; ++i) put_elem(&cache[i * es], t, value(i));
  for (size_t i = 0; i < qbuf.size() / es; ++i) put_elem(&qbuf[i * es], t, value(i + 100000));
  auto view = [&](uint8_t* base, int64_t off, int64_t H, int64_t S, int64_t row, int64_t cap_s) {
    TensorRef r;
    r.data = base + off * int64_t(es);
    r.type = t;
    r.rank = 4;
    if (!bshd) {
      const int64_t sh[4] = {B, H, S, D}, st[4] = {H * cap_s * row, cap_s * row, row, 1};
      std::copy(sh, sh + 4, r.shape), std::copy(st, st + 4, r.stride);
    } else {
      const int64_t sh[4] = {B, S, H, D}, st[4] = {cap_s * H * row, H * row, row, 1};
      std::copy(sh, sh + 4, r.shape), std::copy(st, st + 4, r.stride);
    }
    return r;
  };
  AttentionArgs strided;
  strided.q = view(qbuf.data(), D, Hq, Sq, 3 * D, Sq);
  strided.k = view(cache.data(), 0, Hkv, Skv, 2 * D, cap);
  strided.v = view(cache.data(), D, Hkv, Skv, 2 * D, cap);

  // Dense copies of the same logical elements.
  auto dense = [&](const TensorRef& src, std::vector<uint8_t>& out) {
    out.resize(size_t(src.numel()) * es);
    size_t n = 0;
    for (int64_t a = 0; a < src.shape[0]; ++a)
      for (int64_t b = 0; b < src.shape[1]; ++b)
        for (int64_t c = 0; c < src.shape[2]; ++c)
          for (int64_t d = 0; d < src.shape[3]; ++d, ++n)
            std::memcpy(&out[n * es], element_ptr(src, a, b, c, d), es);
    return contiguous_view(out.data(), t, {src.shape[0], src.shape[1], src.shape[2], src.shape[3]});
  };
  std::vector<uint8_t> qd, kd, vd;
  AttentionArgs contiguous;
  contiguous.q = dense(strided.q, qd);
  contiguous.k = dense(strided.k, kd);
  contiguous.v = dense(strided.v, vd);

  const std::vector<int64_t> o_shape = bshd ? std::vector<int64_t>{B, Sq, Hq, D} : std::vector<int64_t>{B, Hq, Sq, D};
  std::vector<uint8_t> o1(size_t(B * Hq * Sq * D) * es, 0xAB), o2(o1.size(), 0xCD);
  std::vector<float> l1(size_t(B * Hq * Sq)), l2(l1.size());
  strided.o = contiguous_view(o1.data(), t, o_shape);
  contiguous.o = contiguous_view(o2.data(), t, o_shape);
  strided.lse = contiguous_view(l1.data(), ElemType::f32, {B, Hq, Sq});
  contiguous.lse = contiguous_view(l2.data(), ElemType::f32, {B, Hq, Sq});
  auto kernel = reference_backend().compile(s);
  kernel->run(strided);
  kernel->run(contiguous);
  EXPECT_EQ(o1, o2) << dtype << " " << layout_name(layout);
  EXPECT_EQ(0, std::memcmp(l1.data(), l2.data(), l1.size() * 4)) << dtype << " " << layout_name(layout);
  // Each output element was written (no 0xAB bytes left).
  EXPECT_NE(o1, std::vector<uint8_t>(o1.size(), 0xAB));
}

TEST(Args, StridedViewsMatchContiguousCopies) {
  for (const char* dtype : {"f32", "f16", "bf16"})
    for (Layout l : {Layout::bhsd, Layout::bshd}) check_fused(dtype, l);
}

TEST(Args, StridedOutputAndMaskViews) {
  // O written into a larger buffer (stride > Dv), a mask sliced from a wider
  // one, kv_lens and q_lens read with a stride: same numbers as dense arguments.
  Spec s = parse_spec(R"({"dtype": "f32", "head_dim": 4, "num_heads": 2, "return_lse": true,
                          "mask": [{"type": "padding"}, {"type": "custom", "format": "additive"}]})");
  const int64_t B = 2, H = 2, Sq = 3, Skv = 4, D = 4;
  std::vector<float> q(size_t(B * H * Sq * D)), k(size_t(B * H * Skv * D)), v(k.size());
  for (size_t i = 0; i < q.size(); ++i) q[i] = float(value(i));
  for (size_t i = 0; i < k.size(); ++i) k[i] = float(value(i + 999)), v[i] = float(value(i + 5000));
  std::vector<float> wide_mask(size_t(Sq * 10));
  for (size_t i = 0; i < wide_mask.size(); ++i) wide_mask[i] = float(value(i + 77));
  std::vector<float> dense_mask(size_t(Sq * Skv));
  for (int64_t i = 0; i < Sq; ++i)
    for (int64_t j = 0; j < Skv; ++j) dense_mask[size_t(i * Skv + j)] = wide_mask[size_t(i * 10 + 2 + j)];
  std::vector<int32_t> lens_strided = {4, -99, 2, -99}, lens = {4, 2};
  std::vector<int32_t> q_lens_strided = {3, -77, 1, -77}, q_lens = {3, 1};

  std::vector<float> o_wide(size_t(B * H * Sq * 6), 12345.f), o(size_t(B * H * Sq * D)), l1(size_t(B * H * Sq)),
      l2(l1.size());
  AttentionArgs a, d;
  a.q = d.q = contiguous_view(q.data(), ElemType::f32, {B, H, Sq, D});
  a.k = d.k = contiguous_view(k.data(), ElemType::f32, {B, H, Skv, D});
  a.v = d.v = contiguous_view(v.data(), ElemType::f32, {B, H, Skv, D});
  a.o = contiguous_view(o_wide.data(), ElemType::f32, {B, H, Sq, D});
  a.o.stride[0] = H * Sq * 6, a.o.stride[1] = Sq * 6, a.o.stride[2] = 6;
  d.o = contiguous_view(o.data(), ElemType::f32, {B, H, Sq, D});
  a.lse = contiguous_view(l1.data(), ElemType::f32, {B, H, Sq});
  d.lse = contiguous_view(l2.data(), ElemType::f32, {B, H, Sq});
  a.mask = contiguous_view(wide_mask.data() + 2, ElemType::f32, {Sq, Skv});
  a.mask.stride[0] = 10;
  d.mask = contiguous_view(dense_mask.data(), ElemType::f32, {Sq, Skv});
  a.kv_lens = contiguous_view(lens_strided.data(), ElemType::i32, {B});
  a.kv_lens.stride[0] = 2;
  d.kv_lens = contiguous_view(lens.data(), ElemType::i32, {B});
  a.q_lens = contiguous_view(q_lens_strided.data(), ElemType::i32, {B});
  a.q_lens.stride[0] = 2;
  d.q_lens = contiguous_view(q_lens.data(), ElemType::i32, {B});
  auto kernel = reference_backend().compile(s);
  kernel->run(a);
  kernel->run(d);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Sq; ++i) {
        for (int64_t e = 0; e < D; ++e)
          EXPECT_EQ(float_to_bits(o_wide[size_t(((b * H + h) * Sq + i) * 6 + e)]),
                    float_to_bits(o[size_t(((b * H + h) * Sq + i) * D + e)]));
        for (int64_t e = D; e < 6; ++e) EXPECT_EQ(o_wide[size_t(((b * H + h) * Sq + i) * 6 + e)], 12345.f) << "gap written";
      }
  EXPECT_EQ(0, std::memcmp(l1.data(), l2.data(), l1.size() * 4));
}

}  // namespace
}  // namespace attngen::args_test
