// `attngen run` end to end: inputs written as .npy, the CLI binary invoked as a
// separate process, its output read back and compared bit for bit with the
// reference backend run in-process on the same tensors. Failures must exit
// non-zero, name the offending tensor and leave no output file behind.
//
// Needs ATTNGEN_CLI (path of the attngen binary) defined by the build.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "codegen/spec/spec.hpp"
#include "runtime/core/half.hpp"
#include "runtime/core/tensor.hpp"
#include "runtime/io/npy.hpp"
#include "runtime/reference/reference.hpp"
#include "runtime/x86/x86_kernel.hpp"

#ifndef ATTNGEN_CLI
#error "ATTNGEN_CLI must name the attngen binary"
#endif

namespace attngen {
namespace {

namespace fs = std::filesystem;

class CliRun : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("attngen_cli_run_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    fs::remove_all(cache_dir(), ec);
  }
  // Beside the test directory, whose listing some tests check.
  std::string cache_dir() const { return dir_.string() + ".cache"; }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  std::string write_spec(const std::string& json) const {
    const std::string p = path("spec.json");
    std::ofstream(p) << json;
    return p;
  }

  // Runs the CLI (or `program`) with `args`; returns the exit status, stderr +
  // stdout in `out`. The disk cache, if any, stays in the test directory.
  int cli(const std::string& args, std::string& out, const std::string& program = ATTNGEN_CLI) const {
    const std::string log = path("log.txt");
    const std::string cmd =
        "ATTNGEN_CACHE_DIR='" + cache_dir() + "' '" + program + "' " + args + " > '" + log + "' 2>&1";
    const int st = std::system(cmd.c_str());
    std::ifstream in(log);
    std::stringstream ss;
    ss << in.rdbuf();
    out = ss.str();
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
  }

  fs::path dir_;
};

std::string q(const std::string& p) { return "'" + p + "'"; }

void put(std::vector<uint8_t>& buf, ElemType t, size_t idx, double x) {
  if (t == ElemType::f32) {
    const float f = float(x);
    std::memcpy(&buf[idx * 4], &f, 4);
  } else {
    const uint16_t h = t == ElemType::f16 ? double_to_f16(x) : double_to_bf16(x);
    std::memcpy(&buf[idx * 2], &h, 2);
  }
}

std::vector<uint8_t> random_tensor(ElemType t, const std::vector<int64_t>& shape, uint64_t seed) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<uint8_t> b(size_t(n) * elem_size(t));
  for (int64_t i = 0; i < n; ++i) put(b, t, size_t(i), std::sin(double(i) * 0.377 + double(seed)) * 2);
  return b;
}

TEST_F(CliRun, F32CausalGqaWithLseMatchesReferenceBitForBit) {
  const std::string json = R"({"dtype": "f32", "head_dim": 8, "num_heads": 4, "num_kv_heads": 2,
      "mask": [{"type": "causal", "align": "bottom_right"}], "return_lse": true})";
  const std::string spec_path = write_spec(json);
  const Spec spec = parse_spec(json);
  const int64_t B = 2, Sq = 5, Skv = 3;  // Sq > Skv: the first two rows are empty
  const std::vector<int64_t> qs = {B, 4, Sq, 8}, ks = {B, 2, Skv, 8}, os = qs;
  auto qb = random_tensor(ElemType::f32, qs, 1), kb = random_tensor(ElemType::f32, ks, 2),
       vb = random_tensor(ElemType::f32, ks, 3);
  write_npy(path("q.npy"), ElemType::f32, qs, qb.data());
  write_npy(path("k.npy"), ElemType::f32, ks, kb.data());
  write_npy(path("v.npy"), ElemType::f32, ks, vb.data());

  std::string out;
  const int rc = cli("run " + q(spec_path) + " --q " + q(path("q.npy")) + " --k " + q(path("k.npy")) + " --v " +
                         q(path("v.npy")) + " --out " + q(path("o.npy")) + " --lse " + q(path("lse.npy")) +
                         " --backend reference",
                     out);
  ASSERT_EQ(rc, 0) << out;

  std::vector<uint8_t> ref_o(qb.size());
  std::vector<float> ref_lse(size_t(B * 4 * Sq));
  AttentionArgs a;
  a.q = contiguous_view(qb.data(), ElemType::f32, qs);
  a.k = contiguous_view(kb.data(), ElemType::f32, ks);
  a.v = contiguous_view(vb.data(), ElemType::f32, ks);
  a.o = contiguous_view(ref_o.data(), ElemType::f32, os);
  a.lse = contiguous_view(ref_lse.data(), ElemType::f32, {B, 4, Sq});
  reference_backend().compile(spec)->run(a);

  const NpyArray o = read_npy(path("o.npy"), "o");
  EXPECT_EQ(o.type, ElemType::f32);
  EXPECT_EQ(o.shape, os);
  EXPECT_EQ(o.bytes, ref_o);
  const NpyArray lse = read_npy(path("lse.npy"), "lse");
  EXPECT_EQ(lse.type, ElemType::f32);
  EXPECT_EQ(lse.shape, (std::vector<int64_t>{B, 4, Sq}));
  ASSERT_EQ(lse.bytes.size(), ref_lse.size() * 4);
  EXPECT_EQ(0, std::memcmp(lse.bytes.data(), ref_lse.data(), lse.bytes.size()));
  // Fully masked rows came through as exact zeros and -inf.
  float l0;
  std::memcpy(&l0, lse.bytes.data(), 4);
  EXPECT_EQ(l0, -std::numeric_limits<float>::infinity());
}

TEST_F(CliRun, Bf16BshdPaddingWithLengthsMatchesReference) {
  const std::string json = R"({"dtype": "bf16", "head_dim": 4, "head_dim_v": 6, "num_heads": 2, "layout": "bshd",
      "mask": [{"type": "padding"}, {"type": "custom", "format": "bool"}]})";
  const std::string spec_path = write_spec(json);
  const Spec spec = parse_spec(json);
  const int64_t B = 2, Sq = 3, Skv = 4, H = 2;
  const std::vector<int64_t> qs = {B, Sq, H, 4}, ks = {B, Skv, H, 4}, vs = {B, Skv, H, 6}, os = {B, Sq, H, 6};
  auto qb = random_tensor(ElemType::bf16, qs, 4), kb = random_tensor(ElemType::bf16, ks, 5),
       vb = random_tensor(ElemType::bf16, vs, 6);
  std::vector<int32_t> kv_lens = {2, 4}, q_lens = {3, 1};
  // NaN past the lengths must not reach the output.
  const uint16_t nan = double_to_bf16(std::numeric_limits<double>::quiet_NaN());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = kv_lens[size_t(b)]; j < Skv; ++j)
      for (int64_t h = 0; h < H; ++h) {
        for (int d = 0; d < 4; ++d) std::memcpy(&kb[size_t((((b * Skv + j) * H + h) * 4 + d) * 2)], &nan, 2);
        for (int d = 0; d < 6; ++d) std::memcpy(&vb[size_t((((b * Skv + j) * H + h) * 6 + d) * 2)], &nan, 2);
      }
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = q_lens[size_t(b)]; i < Sq; ++i)
      for (int64_t h = 0; h < H; ++h)
        for (int d = 0; d < 4; ++d) std::memcpy(&qb[size_t((((b * Sq + i) * H + h) * 4 + d) * 2)], &nan, 2);
  std::vector<uint8_t> mask = {1, 1, 0, 1, /**/ 0, 1, 1, 1, /**/ 1, 0, 1, 1};  // [Sq, Skv]
  write_npy(path("q.npy"), ElemType::bf16, qs, qb.data());
  write_npy(path("k.npy"), ElemType::bf16, ks, kb.data());
  write_npy(path("v.npy"), ElemType::bf16, vs, vb.data());
  write_npy(path("kv_lens.npy"), ElemType::i32, {B}, kv_lens.data());
  write_npy(path("q_lens.npy"), ElemType::i32, {B}, q_lens.data());
  write_npy(path("mask.npy"), ElemType::b8, {Sq, Skv}, mask.data());

  std::string out;
  const int rc = cli("run " + q(spec_path) + " --q " + q(path("q.npy")) + " --k " + q(path("k.npy")) + " --v " +
                         q(path("v.npy")) + " --kv-lens " + q(path("kv_lens.npy")) + " --q-lens " +
                         q(path("q_lens.npy")) + " --mask " + q(path("mask.npy")) + " --out " + q(path("o.npy")) +
                         " --threads 2",
                     out);
  ASSERT_EQ(rc, 0) << out;

  std::vector<uint8_t> ref_o(size_t(B * Sq * H * 6) * 2);
  AttentionArgs a;
  a.q = contiguous_view(qb.data(), ElemType::bf16, qs);
  a.k = contiguous_view(kb.data(), ElemType::bf16, ks);
  a.v = contiguous_view(vb.data(), ElemType::bf16, vs);
  a.o = contiguous_view(ref_o.data(), ElemType::bf16, os);
  a.kv_lens = contiguous_view(kv_lens.data(), ElemType::i32, {B});
  a.q_lens = contiguous_view(q_lens.data(), ElemType::i32, {B});
  a.mask = contiguous_view(mask.data(), ElemType::b8, {Sq, Skv});
  reference_backend().compile(spec)->run(a);

  const NpyArray o = read_npy(path("o.npy"), "o");
  EXPECT_EQ(o.type, ElemType::bf16);
  EXPECT_EQ(o.shape, os);
  ASSERT_EQ(o.bytes.size(), ref_o.size());
  // Bit equality where the x86 kernels keep P in f32; on the vdpbf16ps plan,
  // which rounds P to bf16 (docs/spec.md, Precision), spec v1's bf16
  // tolerance, rel_err <= 1.6e-2 (L2 norms, as `verify`). Rows past q_len are
  // exactly 0 (their reference is).
  if (!x86::X86Kernel::host_plan(spec).bf16_dot) {
    EXPECT_EQ(o.bytes, ref_o);
  }
  double num = 0, den = 0;
  for (size_t i = 0; i < o.bytes.size() / 2; ++i) {
    uint16_t h, r;
    std::memcpy(&h, &o.bytes[i * 2], 2);
    std::memcpy(&r, &ref_o[i * 2], 2);
    const double x = bf16_to_float(h), y = bf16_to_float(r);
    EXPECT_TRUE(std::isfinite(x)) << "element " << i;
    if (y == 0) {
      EXPECT_EQ(x, 0.0) << "element " << i;
    }
    num += (x - y) * (x - y), den += y * y;
  }
  EXPECT_LE(std::sqrt(num / den), 1.6e-2);
}

// verify --save writes a problem `run` replays: the same inputs give the same
// output bit for bit, and the reference's files are the reference backend's.
TEST_F(CliRun, VerifySaveWritesAProblemThatRunReplays) {
  const std::string spec_path = write_spec(R"({"dtype": "f16", "head_dim": 8, "head_dim_v": 4, "num_heads": 4,
      "num_kv_heads": 2, "layout": "bshd", "return_lse": true, "score_mod": [{"type": "alibi"}],
      "mask": [{"type": "padding"}, {"type": "document"}, {"type": "custom", "format": "additive"}]})");
  const std::string saved = path("saved");
  std::string out;
  ASSERT_EQ(cli("verify " + q(spec_path) + " --batch 3 --q-len 5 --kv-len 7 --seed 4 --save " + q(saved), out), 0)
      << out;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(saved)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"alibi_slopes.npy", "k.npy", "kv_doc.npy", "kv_lens.npy", "lse.npy",
                                             "lse_ref.npy", "mask.npy", "o.npy", "o_ref.npy", "q.npy", "q_doc.npy",
                                             "q_lens.npy", "v.npy"}));
  EXPECT_EQ(read_npy(saved + "/q.npy", "q").shape, (std::vector<int64_t>{3, 5, 4, 8}));
  EXPECT_EQ(read_npy(saved + "/o.npy", "o").shape, (std::vector<int64_t>{3, 5, 4, 4}));
  const std::string inputs = " --q " + q(saved + "/q.npy") + " --k " + q(saved + "/k.npy") + " --v " +
                             q(saved + "/v.npy") + " --q-lens " + q(saved + "/q_lens.npy") + " --kv-lens " +
                             q(saved + "/kv_lens.npy") + " --q-doc " + q(saved + "/q_doc.npy") + " --kv-doc " +
                             q(saved + "/kv_doc.npy") + " --mask " + q(saved + "/mask.npy") + " --alibi-slopes " +
                             q(saved + "/alibi_slopes.npy");
  for (const std::string backend : {"auto", "reference"}) {
    ASSERT_EQ(cli("run " + q(spec_path) + inputs + " --backend " + backend + " --out " + q(path("o.npy")) +
                      " --lse " + q(path("lse.npy")),
                  out),
              0)
        << out;
    const std::string o_file = backend == "auto" ? "/o.npy" : "/o_ref.npy";
    const std::string lse_file = backend == "auto" ? "/lse.npy" : "/lse_ref.npy";
    EXPECT_EQ(read_npy(path("o.npy"), "o").bytes, read_npy(saved + o_file, "o").bytes) << backend;
    EXPECT_EQ(read_npy(path("lse.npy"), "lse").bytes, read_npy(saved + lse_file, "lse").bytes) << backend;
  }
  // A directory that cannot be made is named, and nothing runs into it.
  std::ofstream(path("file")) << "not a directory";
  EXPECT_EQ(cli("verify " + q(spec_path) + " --save " + q(path("file") + "/sub"), out), 1);
  EXPECT_NE(out.find("--save: cannot create the directory '" + path("file") + "/sub'"), std::string::npos) << out;
}

TEST_F(CliRun, WrongShapeKFailsNamingKAndWritesNothing) {
  const std::string spec_path = write_spec(R"({"dtype": "f32", "head_dim": 8, "num_heads": 2, "return_lse": true})");
  const std::vector<int64_t> qs = {1, 2, 3, 8}, bad_k = {1, 2, 4, 6}, vs = {1, 2, 4, 8};
  auto qb = random_tensor(ElemType::f32, qs, 1), kb = random_tensor(ElemType::f32, bad_k, 2),
       vb = random_tensor(ElemType::f32, vs, 3);
  write_npy(path("q.npy"), ElemType::f32, qs, qb.data());
  write_npy(path("k.npy"), ElemType::f32, bad_k, kb.data());
  write_npy(path("v.npy"), ElemType::f32, vs, vb.data());
  std::string out;
  const int rc = cli("run " + q(spec_path) + " --q " + q(path("q.npy")) + " --k " + q(path("k.npy")) + " --v " +
                         q(path("v.npy")) + " --out " + q(path("o.npy")) + " --lse " + q(path("lse.npy")),
                     out);
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("k: dimension 3 (head_dim) must be 8, got 6"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(path("o.npy")));
  EXPECT_FALSE(fs::exists(path("lse.npy")));
  // No temporaries either: only the inputs, the spec and the log remain.
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir_)) (void)e, ++files;
  EXPECT_EQ(files, 5);
}

TEST_F(CliRun, MissingKvLensForPaddingSpecNamesKvLens) {
  const std::string spec_path =
      write_spec(R"({"dtype": "f32", "head_dim": 8, "num_heads": 2, "mask": [{"type": "padding"}]})");
  const std::vector<int64_t> qs = {1, 2, 3, 8}, ks = {1, 2, 4, 8};
  auto qb = random_tensor(ElemType::f32, qs, 1), kb = random_tensor(ElemType::f32, ks, 2);
  write_npy(path("q.npy"), ElemType::f32, qs, qb.data());
  write_npy(path("k.npy"), ElemType::f32, ks, kb.data());
  write_npy(path("v.npy"), ElemType::f32, ks, kb.data());
  std::string out;
  const int rc = cli("run " + q(spec_path) + " --q " + q(path("q.npy")) + " --k " + q(path("k.npy")) + " --v " +
                         q(path("v.npy")) + " --out " + q(path("o.npy")),
                     out);
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("kv_lens"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(path("o.npy")));
}

TEST_F(CliRun, LseFlagMustMatchTheSpec) {
  const std::string spec_path = write_spec(R"({"dtype": "f32", "head_dim": 8, "num_heads": 2, "return_lse": true})");
  const std::vector<int64_t> qs = {1, 2, 3, 8};
  auto qb = random_tensor(ElemType::f32, qs, 1);
  write_npy(path("q.npy"), ElemType::f32, qs, qb.data());
  std::string out;
  const int rc = cli("run " + q(spec_path) + " --q " + q(path("q.npy")) + " --k " + q(path("q.npy")) + " --v " +
                         q(path("q.npy")) + " --out " + q(path("o.npy")),
                     out);
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("--lse"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(path("o.npy")));
}

// --- Output files: all or none, never replacing what is not a plain file.

// A small f32 spec with LSE and its inputs in the test directory; run_args()
// is the command line without --out/--lse.
class CliOutputs : public CliRun {
 protected:
  void SetUp() override {
    CliRun::SetUp();
    spec_path_ = write_spec(R"({"dtype": "f32", "head_dim": 8, "num_heads": 2, "return_lse": true})");
    const std::vector<int64_t> shape = {1, 2, 3, 8};
    for (const char* t : {"q", "k", "v"}) {
      const auto b = random_tensor(ElemType::f32, shape, uint64_t(t[0]));
      write_npy(path(std::string(t) + ".npy"), ElemType::f32, shape, b.data());
    }
  }
  std::string run_args() const {
    return "run " + q(spec_path_) + " --q " + q(path("q.npy")) + " --k " + q(path("k.npy")) + " --v " +
           q(path("v.npy")) + " --backend reference";
  }
  static std::string content(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }
  static void put_text(const std::string& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }
  // Names in `d` containing ".tmp.": temporaries left behind.
  static int temporaries(const fs::path& d) {
    int n = 0;
    for (const auto& e : fs::directory_iterator(d)) n += e.path().filename().string().find(".tmp.") != std::string::npos;
    return n;
  }
  std::string spec_path_;
};

TEST_F(CliOutputs, OutputThatIsAnInputIsRefusedBeforeAnythingRuns) {
  const std::string q_before = content(path("q.npy"));
  fs::create_symlink("q.npy", path("link-to-q.npy"));
  fs::create_hard_link(path("k.npy"), path("hard-link-to-k.npy"));
  const std::pair<std::string, std::string> cases[] = {
      {" --out " + q(path("q.npy")) + " --lse " + q(path("lse.npy")), "--out '" + path("q.npy") + "': the same file as the input --q '"},
      {" --out " + q(path("link-to-q.npy")) + " --lse " + q(path("lse.npy")), "the same file as the input --q"},
      {" --out " + q(path("o.npy")) + " --lse " + q(path("hard-link-to-k.npy")), "--lse '" + path("hard-link-to-k.npy") + "': the same file as the input --k"},
      {" --out " + q(spec_path_) + " --lse " + q(path("lse.npy")), "the same file as the input spec"},
  };
  for (const auto& [flags, message] : cases) {
    std::string out;
    EXPECT_EQ(cli(run_args() + flags, out), 1) << flags;
    EXPECT_NE(out.find(message), std::string::npos) << out;
    EXPECT_NE(out.find("an output may not replace an input"), std::string::npos) << out;
    EXPECT_EQ(out.find("attngen run: backend"), std::string::npos) << "it ran: " << out;
  }
  EXPECT_EQ(content(path("q.npy")), q_before);
  EXPECT_TRUE(fs::is_symlink(path("link-to-q.npy")));
  EXPECT_EQ(fs::hard_link_count(path("k.npy")), 2u);
  EXPECT_FALSE(fs::exists(path("o.npy")));
  EXPECT_FALSE(fs::exists(path("lse.npy")));
}

TEST_F(CliOutputs, OutAndLseNamingOneFileIsRefused) {
  std::string out;
  EXPECT_EQ(cli(run_args() + " --out " + q(path("x.npy")) + " --lse " + q(path("x.npy")), out), 1);
  EXPECT_NE(out.find("--lse '" + path("x.npy") + "': the same file as --out '" + path("x.npy") + "'"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(path("x.npy")));
  // Also when the file exists, and through a link.
  put_text(path("x.npy"), "mine");
  fs::create_symlink(path("x.npy"), path("y.npy"));
  EXPECT_EQ(cli(run_args() + " --out " + q(path("x.npy")) + " --lse " + q(path("y.npy")), out), 1);
  EXPECT_NE(out.find("each output needs a file of its own"), std::string::npos) << out;
  EXPECT_EQ(content(path("x.npy")), "mine");
}

TEST_F(CliOutputs, UnwritableLseLeavesOutUntouched) {
  put_text(path("o.npy"), "the old O");
  std::string out;
  // Found before the run: a missing directory.
  EXPECT_EQ(cli(run_args() + " --out " + q(path("o.npy")) + " --lse " + q(path("nowhere/lse.npy")), out), 1);
  EXPECT_NE(out.find("--lse '" + path("nowhere/lse.npy") + "': cannot create it in directory '" + path("nowhere") +
                     "': No such file or directory"),
            std::string::npos)
      << out;
  EXPECT_EQ(content(path("o.npy")), "the old O");
  // Found while writing: a device that takes no data (through a link, so that
  // nothing outside the test directory could be replaced).
  fs::create_symlink("/dev/full", path("full"));
  EXPECT_EQ(cli(run_args() + " --out " + q(path("o.npy")) + " --lse " + q(path("full")), out), 1);
  EXPECT_NE(out.find("--lse '" + path("full") + "': cannot write: No space left on device; no output was written"),
            std::string::npos)
      << out;
  EXPECT_EQ(content(path("o.npy")), "the old O");
  EXPECT_TRUE(fs::is_symlink(path("full")));
  EXPECT_EQ(temporaries(dir_), 0);
}

TEST_F(CliOutputs, SymlinkedOutputWritesItsTargetInItsDirectory) {
  fs::create_directories(dir_ / "real");
  put_text(path("real/o.npy"), "old");
  fs::create_symlink("real/o.npy", path("o-link.npy"));
  fs::create_symlink("real/lse-new.npy", path("lse-link.npy"));  // dangling: the target is created
  std::string out;
  ASSERT_EQ(cli(run_args() + " --out " + q(path("o-link.npy")) + " --lse " + q(path("lse-link.npy")), out), 0) << out;
  EXPECT_TRUE(fs::is_symlink(path("o-link.npy")));
  EXPECT_TRUE(fs::is_symlink(path("lse-link.npy")));
  EXPECT_EQ(read_npy(path("real/o.npy"), "o").shape, (std::vector<int64_t>{1, 2, 3, 8}));
  EXPECT_EQ(read_npy(path("real/lse-new.npy"), "lse").shape, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(temporaries(dir_), 0);
  EXPECT_EQ(temporaries(dir_ / "real"), 0);
}

TEST_F(CliOutputs, ExistingOutputKeepsItsPermissionBits) {
  put_text(path("o.npy"), "old");
  put_text(path("lse.npy"), "old");
  fs::permissions(path("o.npy"), fs::perms::owner_read | fs::perms::owner_write);
  fs::permissions(path("lse.npy"), fs::perms::owner_all | fs::perms::group_read);
  std::string out;
  ASSERT_EQ(cli(run_args() + " --out " + q(path("o.npy")) + " --lse " + q(path("lse.npy")), out), 0) << out;
  EXPECT_EQ(fs::status(path("o.npy")).permissions(), fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(fs::status(path("lse.npy")).permissions(), fs::perms::owner_all | fs::perms::group_read);
  EXPECT_NE(content(path("o.npy")), "old");
}

TEST_F(CliOutputs, HardLinkedOutputIsWrittenInPlace) {
  put_text(path("o.npy"), std::string(10000, 'x'));  // longer than the output: the rest must go
  fs::create_hard_link(path("o.npy"), path("o-other-name.npy"));
  std::string out;
  ASSERT_EQ(cli(run_args() + " --out " + q(path("o.npy")) + " --lse " + q(path("lse.npy")), out), 0) << out;
  EXPECT_EQ(fs::hard_link_count(path("o.npy")), 2u);
  EXPECT_TRUE(fs::equivalent(path("o.npy"), path("o-other-name.npy")));
  EXPECT_EQ(read_npy(path("o-other-name.npy"), "o").shape, (std::vector<int64_t>{1, 2, 3, 8}));
}

TEST_F(CliOutputs, FifoOutputIsWrittenThroughNotReplaced) {
  ASSERT_EQ(::mkfifo(path("o.fifo").c_str(), 0644), 0);
  // The reader gives up after 20 s should the writer never come.
  std::string out;
  const int rc = cli("-c " + q("timeout 20 cat " + q(path("o.fifo")) + " > " + q(path("got.npy")) + " & " + ATTNGEN_CLI +
                           " " + run_args() + " --out " + q(path("o.fifo")) + " --lse " + q(path("lse.npy")) +
                           "; rc=$?; wait; exit $rc"),
                     out, "sh");
  ASSERT_EQ(rc, 0) << out;
  struct stat st;
  ASSERT_EQ(::lstat(path("o.fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(read_npy(path("got.npy"), "o").shape, (std::vector<int64_t>{1, 2, 3, 8}));
  // /dev/null is where it was (a read-only look; no test writes to it).
  ASSERT_EQ(::stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
}

TEST_F(CliOutputs, EmitMayNotReplaceTheSpec) {
  const std::string before = content(spec_path_);
  std::string out;
  EXPECT_EQ(cli("compile " + q(spec_path_) + " --backend reference --emit " + q(spec_path_), out), 1);
  EXPECT_NE(out.find("--emit '" + spec_path_ + "': the same file as the input spec"), std::string::npos) << out;
  EXPECT_EQ(content(spec_path_), before);
}

// --- Sizes and shapes from files and flags: named, never a bare std::bad_alloc.

TEST_F(CliOutputs, HugeShapeInAnNpyHeaderIsNamedNotBadAlloc) {
  // A zero extent makes the file valid (no data) whatever the others claim,
  // and O's size follows Q's shape.
  const std::vector<int64_t> huge = {1, 2, int64_t(1) << 40, 0};
  write_npy(path("q.npy"), ElemType::f32, huge, nullptr);
  std::string out;
  EXPECT_EQ(cli(run_args() + " --out " + q(path("o.npy")) + " --lse " + q(path("lse.npy")), out), 1);
  EXPECT_NE(out.find("error: --out: cannot allocate O of shape [1, 2, 1099511627776, 8] (f32, following q's shape "
                     "[1, 2, 1099511627776, 0]): 70368744177664 bytes, more than this machine's memory ("),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("bad_alloc"), std::string::npos) << out;
}

TEST_F(CliOutputs, RankFiveTensorNamesTheTensorAndTheFile) {
  write_npy(path("k5.npy"), ElemType::f32, {1, 2, 3, 8, 1}, random_tensor(ElemType::f32, {1, 2, 3, 8, 1}, 5).data());
  std::string out;
  EXPECT_EQ(cli("run " + q(spec_path_) + " --q " + q(path("q.npy")) + " --k " + q(path("k5.npy")) + " --v " +
                    q(path("v.npy")) + " --out " + q(path("o.npy")) + " --lse " + q(path("lse.npy")),
                out),
            1);
  EXPECT_NE(out.find("error: k: shape [1, 2, 3, 8, 1] has rank 5; at most 4 dimensions are supported (in '" +
                     path("k5.npy") + "')"),
            std::string::npos)
      << out;
}

TEST_F(CliOutputs, HugeLengthsInVerifyAreNamedNotBadAlloc) {
  std::string out;
  EXPECT_EQ(cli("verify " + q(spec_path_) + " --backend reference --q-len 1000000000000 --kv-len 3", out), 1);
  EXPECT_NE(out.find("error: verify: B=2 Sq=1000000000000 Skv=3 (Hq=2, Hkv=2, D=8, f32) needs "), std::string::npos)
      << out;
  EXPECT_NE(out.find("bytes of tensors, more than this machine's memory ("), std::string::npos) << out;
  EXPECT_NE(out.find("choose a smaller --batch, --q-len or --kv-len"), std::string::npos) << out;
}

TEST_F(CliOutputs, IntegerFlagsAreCheckedAsIntegersWithShortMessages) {
  const std::string verify = "verify " + q(spec_path_) + " --backend reference ";
  std::string out;
  // A 309-digit value: cut short, and the bound printed as an integer.
  EXPECT_NE(cli(verify + "--q-len 1" + std::string(308, '0'), out), 0);
  EXPECT_NE(out.find("--q-len: must be an integer in [1, 9223372036854775807], got 1" + std::string(39, '0') + "...\n"),
            std::string::npos)
      << out;
  EXPECT_LT(out.size(), 200u) << out;
  // Beyond int64: an error, not INT64_MAX.
  EXPECT_NE(cli(verify + "--q-len 99999999999999999999", out), 0);
  EXPECT_NE(out.find("--q-len: must be an integer in [1, 9223372036854775807], got 99999999999999999999"),
            std::string::npos)
      << out;
  EXPECT_NE(cli(verify + "--threads -1", out), 0);
  EXPECT_NE(out.find("--threads: must be an integer in [0, 2147483647], got -1"), std::string::npos) << out;
  // Control bytes are escaped; a leading zero is decimal, not octal.
  EXPECT_NE(cli(verify + "--batch " + q("1\x01"), out), 0);
  EXPECT_NE(out.find("--batch: must be an integer in [1, 9223372036854775807], got 1\\x01"), std::string::npos) << out;
  ASSERT_EQ(cli(verify + "--batch 010 --q-len 3 --kv-len 4", out), 0) << out;
  EXPECT_NE(out.find("B=10 Sq=3 Skv=4"), std::string::npos) << out;
  // Whatever CLI11 itself reports is cut short too.
  EXPECT_NE(cli(verify + "--no-such-flag " + std::string(1000, 'x'), out), 0);
  EXPECT_NE(out.find(std::string(40, 'x') + "..."), std::string::npos) << out;
  EXPECT_LT(out.size(), 300u) << out;
}

}  // namespace
}  // namespace attngen
