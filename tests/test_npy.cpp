// .npy read/write: round trips, numpy's header layout, every rejection, and
// the atomic-write guarantees (no stray temporaries, no partial files).
#include <gtest/gtest.h>

#include "tests/error_of.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/core/error.hpp"
#include "runtime/io/atomic_file.hpp"
#include "runtime/io/npy.hpp"

namespace attngen {
namespace {

namespace fs = std::filesystem;

const ElemType kAllTypes[] = {ElemType::f32, ElemType::f16, ElemType::bf16,
                              ElemType::i32, ElemType::u8,  ElemType::b8};

std::vector<uint8_t> pattern(size_t n, bool boolean) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = boolean ? uint8_t(i % 3 == 0) : uint8_t(i * 37 + 11);
  return v;
}

size_t numel(const std::vector<int64_t>& shape) {
  size_t n = 1;
  for (int64_t d : shape) n *= size_t(d);
  return n;
}

// A .npy file built by hand: header text is used verbatim (no padding).
std::vector<uint8_t> make_npy(int major, int minor, const std::string& header,
                              const std::vector<uint8_t>& body = {}) {
  std::vector<uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', uint8_t(major), uint8_t(minor)};
  int len_size = major == 1 ? 2 : 4;
  for (int k = 0; k < len_size; ++k) out.push_back(uint8_t(header.size() >> (8 * k)));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

std::string dict(const std::string& descr, const std::string& shape, const char* fortran = "False") {
  return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }\n";
}

NpyArray parse(const std::vector<uint8_t>& b, const std::string& name = "q") {
  return parse_npy(b.data(), b.size(), name);
}

using testing::error_of;

#define EXPECT_CONTAINS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "message: " << (text)

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "test_npy.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir = tmpl;
  }
  void TearDown() override { fs::remove_all(dir); }
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
  std::string path(const std::string& name) const { return (dir / name).string(); }
  fs::path dir;
};

const std::vector<std::vector<int64_t>> kShapes = {
    {}, {0}, {1}, {5}, {2, 3}, {3, 0, 2}, {2, 3, 4}, {2, 1, 3, 5}, {1, 1, 1, 1}};

TEST(Npy, RoundTripEveryTypeAndShape) {
  for (ElemType t : kAllTypes) {
    for (const auto& shape : kShapes) {
      SCOPED_TRACE(std::string(elem_name(t)) + " " + shape_string(shape));
      auto data = pattern(numel(shape) * elem_size(t), t == ElemType::b8);
      auto file = encode_npy(t, shape, data.data());
      NpyArray a = parse(file);
      EXPECT_EQ(a.type, t);
      EXPECT_EQ(a.shape, shape);
      EXPECT_EQ(a.bytes, data);
      TensorRef v = a.view();
      EXPECT_EQ(v.rank, int(shape.size()));
      EXPECT_EQ(size_t(v.numel()), numel(shape));
      if (!shape.empty()) {
        EXPECT_EQ(v.stride[v.rank - 1], 1);
      }
    }
  }
}

TEST(Npy, ZeroDimArrayHasOneElement) {
  float x = 2.5f;
  NpyArray a = parse(encode_npy(ElemType::f32, {}, &x));
  EXPECT_TRUE(a.shape.empty());
  ASSERT_EQ(a.bytes.size(), 4u);
  EXPECT_EQ(a.view().numel(), 1);
  EXPECT_EQ(*a.view().ptr<float>(), 2.5f);
}

TEST(Npy, HeaderLayoutMatchesNumpy) {
  for (ElemType t : kAllTypes) {
    for (const auto& shape : kShapes) {
      auto file = encode_npy(t, shape, pattern(numel(shape) * elem_size(t), false).data());
      ASSERT_GE(file.size(), 10u);
      EXPECT_EQ(file[6], 1);  // version 1.0
      EXPECT_EQ(file[7], 0);
      size_t header_len = file[8] | size_t(file[9]) << 8;
      EXPECT_EQ((10 + header_len) % 64, 0u) << "data must start 64-aligned";
      EXPECT_EQ(file[10 + header_len - 1], '\n');
      EXPECT_EQ(file.size(), 10 + header_len + numel(shape) * elem_size(t));
    }
  }
  int32_t v[6] = {};
  auto file = encode_npy(ElemType::i32, {2, 3}, v);
  std::string header(file.begin() + 10, file.end() - 24);
  EXPECT_EQ(header.rfind("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }", 0), 0u);
  auto one_d = encode_npy(ElemType::u8, {4}, v);
  EXPECT_CONTAINS(std::string(one_d.begin(), one_d.end()), "'shape': (4,), }");
  auto zero_d = encode_npy(ElemType::b8, {}, v);
  EXPECT_CONTAINS(std::string(zero_d.begin(), zero_d.end()), "{'descr': '|b1', 'fortran_order': False, 'shape': (), }");
}

TEST(Npy, Descrs) {
  EXPECT_STREQ(npy_descr(ElemType::f32), "<f4");
  EXPECT_STREQ(npy_descr(ElemType::f16), "<f2");
  EXPECT_STREQ(npy_descr(ElemType::bf16), "<u2");
  EXPECT_STREQ(npy_descr(ElemType::i32), "<i4");
  EXPECT_STREQ(npy_descr(ElemType::u8), "|u1");
  EXPECT_STREQ(npy_descr(ElemType::b8), "|b1");
  for (const char* d : {"|u1", "=u1", "u1", "<u1"})
    EXPECT_EQ(parse(make_npy(1, 0, dict(d, "(1,)"), {7})).type, ElemType::u8) << d;
  for (const char* d : {"|b1", "=b1", "b1", "?", "|?"})
    EXPECT_EQ(parse(make_npy(1, 0, dict(d, "(1,)"), {1})).type, ElemType::b8) << d;
}

TEST(Npy, LongHeaderUsesVersion2) {
  std::vector<int64_t> shape(30000, 1);  // "1, " per dim: header > 64 KiB
  float x = 1.0f;
  auto file = encode_npy(ElemType::f32, shape, &x);
  EXPECT_EQ(file[6], 2);
  size_t header_len = file[8] | size_t(file[9]) << 8 | size_t(file[10]) << 16 | size_t(file[11]) << 24;
  EXPECT_EQ((12 + header_len) % 64, 0u);
  NpyArray a = parse(file);
  EXPECT_EQ(a.shape, shape);
  EXPECT_CONTAINS(error_of([&] { a.view(); }), "rank 30000");
}

TEST(Npy, HandBuiltVersion2And3) {
  std::vector<uint8_t> body = {1, 0, 0, 0, 2, 0, 0, 0};
  for (int major : {2, 3}) {
    NpyArray a = parse(make_npy(major, 0, dict("<i4", "(2,)"), body));
    EXPECT_EQ(a.type, ElemType::i32);
    EXPECT_EQ(a.shape, (std::vector<int64_t>{2}));
    EXPECT_EQ(a.view().ptr<int32_t>()[1], 2);
  }
}

TEST(Npy, HeaderDictIsParsedLiberally) {
  std::vector<uint8_t> body(6 * 2, 0);
  for (const std::string h : {
           "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f2'}",
           "{\"descr\":\"<f2\",\"fortran_order\":False,\"shape\":(2,3)}",
           "  {  'descr' : '<f2' ,\n\t'fortran_order' : False , 'shape' : ( 2 , 3 , ) , }  \n",
           "{'descr': '<f2', 'fortran_order': False, 'shape': (2L, 3L)}\n",
       }) {
    NpyArray a = parse(make_npy(1, 0, h, body));
    EXPECT_EQ(a.type, ElemType::f16) << h;
    EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3})) << h;
  }
  EXPECT_TRUE(parse(make_npy(1, 0, dict("<f4", "( )"), {0, 0, 0, 0})).shape.empty());
}

TEST(Npy, ViewRejectsRankAbove4) {
  auto file = encode_npy(ElemType::u8, {1, 1, 1, 1, 2}, "ab");
  NpyArray a = parse(file);
  EXPECT_EQ(a.shape.size(), 5u);
  EXPECT_EQ(error_of([&] { a.view(); }), "q: shape [1, 1, 1, 1, 2] has rank 5; at most 4 dimensions are supported");
}

TEST_F(TempDir, RankAbove4NamesTheTensorAndTheFile) {
  write_npy(path("r5.npy"), ElemType::f32, {1, 1, 1, 1, 1}, "abcd");
  const NpyArray a = read_npy(path("r5.npy"), "kv_doc");
  EXPECT_EQ(error_of([&] { a.view(); }), "kv_doc: shape [1, 1, 1, 1, 1] has rank 5; at most 4 dimensions are supported (in '" +
                                             path("r5.npy") + "')");
}

// Every rejection names the tensor and says what was wrong.
void expect_rejected(const std::vector<uint8_t>& file, const std::string& phrase) {
  std::string msg = error_of([&] { parse(file, "kv_lens"); });
  EXPECT_EQ(msg.rfind("kv_lens: ", 0), 0u) << "message: " << msg;
  EXPECT_CONTAINS(msg, phrase);
}

TEST(Npy, RejectsBadMagicAndVersion) {
  expect_rejected({}, "is not a .npy file (bad magic)");
  expect_rejected({'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0}, "is not a .npy file (bad magic)");
  expect_rejected(make_npy(4, 0, dict("<f4", "()"), {0, 0, 0, 0}), "unsupported .npy format version 4.0");
  expect_rejected(make_npy(1, 1, dict("<f4", "()"), {0, 0, 0, 0}), "version 1.1");
  expect_rejected(make_npy(0, 0, dict("<f4", "()"), {0, 0, 0, 0}), "supported: 1.0, 2.0, 3.0");
}

TEST(Npy, RejectsTruncatedHeader) {
  auto full = make_npy(1, 0, dict("<f4", "()"), {0, 0, 0, 0});
  for (size_t n : {7, 9, 11, 40}) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + long(n));
    expect_rejected(cut, "truncated .npy header");
  }
  auto v2 = make_npy(2, 0, dict("<f4", "()"), {0, 0, 0, 0});
  expect_rejected(std::vector<uint8_t>(v2.begin(), v2.begin() + 10), "no header length");
  expect_rejected(std::vector<uint8_t>(full.begin(), full.begin() + 7), "no format version");
  expect_rejected(std::vector<uint8_t>(full.begin(), full.begin() + 40), "expected ");
}

TEST(Npy, RejectsMalformedDict) {
  const std::pair<std::string, std::string> cases[] = {
      {"'descr': '<f4', 'fortran_order': False, 'shape': ()}", "expected '{'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': ()", "expected '}'"},
      {"{'descr': '<f4', 'fortran_order': False}", "missing key 'shape'"},
      {"{'fortran_order': False, 'shape': ()}", "missing key 'descr'"},
      {"{'descr': '<f4', 'shape': ()}", "missing key 'fortran_order'"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}", "duplicate key 'descr'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (), 'extra': 1}", "unexpected key 'extra'"},
      {"{'descr': '<f4', 'fortran_order': 0, 'shape': ()}", "expected True or False"},
      {"{'descr' '<f4', 'fortran_order': False, 'shape': ()}", "expected ':'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': ()} x", "unexpected text after the dict"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': [2]}", "expected '('"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2 3)}", "expected ')'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (a,)}", "expected a dimension"},
      {"{'descr': <f4, 'fortran_order': False, 'shape': ()}", "expected a quoted string"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x", "unterminated string"},
      {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': ()}", "structured dtypes are not supported"},
  };
  for (const auto& [header, phrase] : cases) {
    SCOPED_TRACE(header);
    expect_rejected(make_npy(1, 0, header, {0, 0, 0, 0}), phrase);
    if (phrase.find("structured") == std::string::npos)
      expect_rejected(make_npy(1, 0, header, {0, 0, 0, 0}), "malformed .npy header");
  }
}

TEST(Npy, RejectsLayoutsAndTypes) {
  std::vector<uint8_t> four(4, 0);
  expect_rejected(make_npy(1, 0, dict("<f4", "(1,)", "True"), four), "fortran_order True is not supported");
  EXPECT_EQ(error_of([&] { parse(make_npy(1, 0, dict(">f4", "(1,)"), four)); }),
            "q: big-endian data ('>f4') is not supported; save little-endian");
  expect_rejected(make_npy(1, 0, dict(">i4", "(1,)"), four), "big-endian");
  expect_rejected(make_npy(1, 0, dict("=f4", "(1,)"), four), "byte order");
  expect_rejected(make_npy(1, 0, dict("f4", "(1,)"), four), "byte order");
  for (const char* d : {"<f8", "<i8", "<c8", "|i1", "<U4", "|S4", "|O", "<u4"}) {
    SCOPED_TRACE(d);
    expect_rejected(make_npy(1, 0, dict(d, "(1,)"), std::vector<uint8_t>(16)), std::string("unsupported dtype '") + d + "'");
    expect_rejected(make_npy(1, 0, dict(d, "(1,)"), std::vector<uint8_t>(16)), "supported: '<f4' (f32)");
  }
}

TEST(Npy, RejectsBadDimsAndSizes) {
  expect_rejected(make_npy(1, 0, dict("<f4", "(2, -1)")), "negative dimension");
  expect_rejected(make_npy(1, 0, dict("<f4", "(99999999999999999999,)")), "too large");
  expect_rejected(make_npy(1, 0, dict("<f4", "(4294967296, 4294967296)")), "is too large");
  expect_rejected(make_npy(1, 0, dict("<f4", "(0, 4294967296, 4294967296)")), "is too large");
  expect_rejected(make_npy(1, 0, dict("<f4", "(2, 3)"), std::vector<uint8_t>(20)),
                  "truncated data: shape [2, 3] of f32 needs 24 bytes of data, got 20");
  expect_rejected(make_npy(1, 0, dict("<i4", "()")), "needs 4 bytes of data, got 0");
  expect_rejected(make_npy(1, 0, dict("<f2", "(2,)"), std::vector<uint8_t>(5)),
                  "trailing bytes: shape [2] of f16 needs 4 bytes of data, got 5 (1 extra)");
  expect_rejected(make_npy(1, 0, dict("|u1", "(0,)"), {9}), "trailing bytes");
}

TEST_F(TempDir, WriteReadRoundTripEveryType) {
  for (ElemType t : kAllTypes) {
    std::vector<int64_t> shape = {2, 3, 4};
    auto data = pattern(numel(shape) * elem_size(t), t == ElemType::b8);
    std::string p = path(std::string(elem_name(t)) + ".npy");
    write_npy(p, t, shape, data.data());
    NpyArray a = read_npy(p, "x");
    EXPECT_EQ(a.type, t);
    EXPECT_EQ(a.shape, shape);
    EXPECT_EQ(a.bytes, data);
  }
  write_npy(path("empty.npy"), ElemType::f32, {0, 4}, nullptr);
  EXPECT_EQ(read_npy(path("empty.npy"), "x").shape, (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(listing(), (std::vector<std::string>{"bf16.npy", "bool.npy", "empty.npy", "f16.npy",
                                                 "f32.npy", "i32.npy", "u8.npy"}))
      << "no temporaries left behind";
}

TEST_F(TempDir, WriteReplacesExistingFileAndLeavesNoTemporaries) {
  std::string p = path("q.npy");
  int32_t a[3] = {1, 2, 3}, b[2] = {7, 8};
  write_npy(p, ElemType::i32, {3}, a);
  write_npy(p, ElemType::i32, {2}, b);
  NpyArray r = read_npy(p, "q");
  EXPECT_EQ(r.shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(r.view().ptr<int32_t>()[1], 8);
  EXPECT_EQ(listing(), (std::vector<std::string>{"q.npy"}));
}

TEST_F(TempDir, WriteIntoMissingDirectoryThrowsAndCreatesNothing) {
  std::string p = path("nowhere/q.npy");
  float x = 0;
  std::string msg = error_of([&] { write_npy(p, ElemType::f32, {}, &x); });
  EXPECT_CONTAINS(msg, p);
  EXPECT_CONTAINS(msg, "No such file or directory");
  EXPECT_TRUE(listing().empty());
}

TEST_F(TempDir, FailedRenameRemovesTemporary) {
  fs::create_directory(dir / "target");  // rename of a file over a directory fails
  std::string msg = error_of([&] { write_file_atomic(path("target"), "abc", 3); });
  EXPECT_CONTAINS(msg, path("target"));
  EXPECT_EQ(listing(), (std::vector<std::string>{"target"}));
}

TEST_F(TempDir, OutputThatIsADirectoryIsRefused) {
  fs::create_directory(dir / "target");
  float x = 0;
  const std::string want = std::string("'").append(path("target")).append("': is a directory; name a file to write");
  EXPECT_EQ(error_of([&] { write_npy(path("target"), ElemType::f32, {}, &x); }), want);
  EXPECT_EQ(listing(), (std::vector<std::string>{"target"}));
}

TEST_F(TempDir, ReadErrorsNameTensorAndPath) {
  std::string p = path("missing.npy");
  EXPECT_EQ(error_of([&] { read_npy(p, "q"); }), "q: cannot read '" + p + "': No such file or directory");
  std::ofstream(path("text.npy")) << "hello world";
  EXPECT_EQ(error_of([&] { read_npy(path("text.npy"), "q"); }),
            "q: '" + path("text.npy") + "' is not a .npy file (bad magic)");
  std::vector<uint8_t> f = make_npy(1, 0, dict(">f4", "()"), {0, 0, 0, 0});
  write_file_atomic(path("be.npy"), f.data(), f.size());
  EXPECT_CONTAINS(error_of([&] { read_npy(path("be.npy"), "q"); }), "q: big-endian data ('>f4')");
  EXPECT_CONTAINS(error_of([&] { read_npy(path("be.npy"), "q"); }), path("be.npy"));
}

}  // namespace
}  // namespace attngen
