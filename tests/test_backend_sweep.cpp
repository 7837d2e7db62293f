// Every backend against the float64 reference, for every spec in
// specs/regression/, over a sweep of shapes: sequence lengths (Sq and Skv
// independently, both orders), head dims, GQA ratios, layouts and dtypes.
// Inputs at padded positions are NaN, outputs are poisoned before each run,
// and fully masked rows must come back exactly 0.
//
// The reduced sweep runs by default (CI). ATTNGEN_SWEEP=full runs the whole
// length grid (ctest label `full`); ATTNGEN_SWEEP=smoke a few lengths, for
// the slow sanitizer and coverage builds and, by default, the llvm backend
// (still every dtype, head dim, GQA ratio and layout); ATTNGEN_SWEEP_DTYPES=bf16
// (a list) keeps only those dtypes. Under ATTNGEN_MAX_ISA / ATTNGEN_BF16_DOT,
// the x86 and llvm kernels must report the code path asked for, so a run
// never passes on the wrong one.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "codegen/x86/cpu.hpp"
#include "runtime/core/backend.hpp"
#include "tools/common/kernel_calls.hpp"
#include "tests/regression_specs.hpp"
#include "tools/common/workload.hpp"

namespace attngen {
namespace {


struct Shape {
  int64_t sq, skv;
};
struct Dims {
  int d, dv;
};

const int64_t kLengthsFull[] = {1, 2, 3, 15, 16, 17, 63, 64, 65, 127, 128, 129, 255, 1000};
const int64_t kLengthsReduced[] = {1, 3, 17, 64, 65, 129};
// 2 x 3 shapes x 3 dtypes: 18 configurations, so every head dim (9), GQA ratio and layout appears.
const int64_t kLengthsSmokeQ[] = {1, 65}, kLengthsSmokeKv[] = {17, 64, 129};
// {72, 40} and {33, 17} leave tails of vectors along D and Dv (and an odd D for bf16 pairs).
const Dims kDims[] = {{32, 32}, {64, 64}, {80, 80}, {72, 40}, {96, 96}, {128, 128}, {192, 128}, {33, 17}, {256, 256}};
const int kGqa[] = {1, 2, 4, 8};
const char* kDtypes[] = {"f32", "f16", "bf16"};

bool dtype_selected(const std::string& dtype) {
  const char* e = std::getenv("ATTNGEN_SWEEP_DTYPES");
  if (!e || !*e) return true;
  std::stringstream list(e);
  for (std::string d; std::getline(list, d, ',');)
    if (d == dtype) return true;
  return false;
}

// The code path the environment asks for, checked against what the kernel
// reports: the x86 ISA, or the llvm backend's vector width.
void expect_requested_path(const Kernel& k) {
  const char* cap = std::getenv("ATTNGEN_MAX_ISA");
  if (k.backend() == "llvm") {
    if (cap && std::string(cap) == "avx2") {
      EXPECT_NE(k.isa().find("/8xf32"), std::string::npos) << k.isa();
    }
    if (cap && std::string(cap) == "none") {
      EXPECT_NE(k.isa().find("/4xf32"), std::string::npos) << k.isa();
    }
    return;
  }
  if (k.backend() != "x86") return;
  if (cap && std::string(cap) == "avx2") {
    EXPECT_EQ(k.isa(), "avx2");
  }
  const char* dot = std::getenv("ATTNGEN_BF16_DOT");
  if (dot && std::string(dot) == "1" && k.spec().dtype == ElemType::bf16 && x86::cpu_info().avx512_bf16 &&
      x86::cpu_info().isa == x86::Isa::avx512) {
    EXPECT_EQ(k.isa(), "avx512+vdpbf16ps");
  }
}

std::string sweep_size() {
  const char* e = std::getenv("ATTNGEN_SWEEP");
  return e ? e : "";
}

struct Case {
  std::string backend, spec;
};
// What ctest's test list shows for a case (gtest would print its bytes).
void PrintTo(const Case& c, std::ostream* os) { *os << c.backend << " " << c.spec; }

class BackendSweep : public ::testing::TestWithParam<Case> {};

TEST_P(BackendSweep, MatchesReference) {
  const Case& c = GetParam();
  const nlohmann::json base = testing::load_regression_spec(c.spec);
  std::vector<Shape> shapes;
  if (sweep_size() == "full") {
    for (int64_t a : kLengthsFull)
      for (int64_t b : kLengthsFull) shapes.push_back({a, b});
  } else if (sweep_size() == "smoke" || c.backend == "llvm") {
    // llvm compiles each configuration in ~0.5 s: the default set is the
    // smoke lengths (still odd, Sq != Skv, every dtype, head dim, GQA ratio
    // and layout); ATTNGEN_SWEEP=full runs the whole grid.
    for (int64_t a : kLengthsSmokeQ)
      for (int64_t b : kLengthsSmokeKv) shapes.push_back({a, b});
  } else {
    for (int64_t a : kLengthsReduced)
      for (int64_t b : kLengthsReduced) shapes.push_back({a, b});
  }
  int failures = 0;
  // Configurations rotate over the shapes so that every dtype meets every
  // length, and every head dim, GQA ratio and layout appears many times.
  size_t n = 0;
  for (const char* dtype : kDtypes) {
    if (!dtype_selected(dtype)) continue;
    for (const Shape& sh : shapes) {
      const size_t k = n++;
      const Dims dims = kDims[k % std::size(kDims)];
      const int gqa = kGqa[(k / 3) % std::size(kGqa)];
      const bool bshd = (k / 5) % 2 == 1;
      const int hkv = (k % 2) + 1;
      nlohmann::json j = base;
      j["dtype"] = dtype;
      j["head_dim"] = dims.d;
      j["head_dim_v"] = dims.dv;
      j["num_kv_heads"] = hkv;
      j["num_heads"] = hkv * gqa;
      j["layout"] = bshd ? "bshd" : "bhsd";
      const Spec spec = parse_spec(j.dump());
      WorkloadOptions opt;
      opt.batch = 1 + int64_t(k % 3);  // a batch of 3 holds an empty entry under padding
      opt.sq = sh.sq, opt.skv = sh.skv;
      opt.seed = 1000 + k;
      opt.mask_shape = MaskShape(k % 3);
      opt.additive_in_spec_dtype = (k / 2) % 2 == 1;
      Workload w(spec, opt);
      std::ostringstream what;
      what << c.spec << " dtype " << dtype << " Sq " << sh.sq << " Skv " << sh.skv << " D " << dims.d << " Dv "
           << dims.dv << " Hq " << spec.num_heads << " Hkv " << hkv << " " << (bshd ? "bshd" : "bhsd") << " B "
           << opt.batch;
      SCOPED_TRACE(what.str());
      const Backend& backend = select_backend(c.backend, spec);
      const std::unique_ptr<Kernel> kernel = backend.compile(spec);
      expect_requested_path(*kernel);
      run_on_host_tensors(*kernel, w.args(), RunOptions{int(1 + k % 2)});  // cuda (where available): via the device
      const Comparison cmp = compare_with_reference(w, w.o(), spec.return_lse ? &w.lse() : nullptr);
      const bool ok = cmp.rel_err <= default_tolerance(spec.dtype) && cmp.nonfinite == 0 &&
                      cmp.empty_rows_nonzero == 0 && cmp.lse_mismatched_empty == 0 && cmp.lse_max_abs_err <= 1e-3;
      EXPECT_TRUE(ok) << cmp.summary();
      if (!ok && ++failures > 5) FAIL() << "stopping after 5 failing shapes";
    }
  }
}

std::vector<Case> cases() {
  std::vector<Case> out;
  for (const std::string& b : testing::swept_backends())
    for (const std::string& s : testing::regression_specs()) out.push_back({b, s});
  return out;
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  std::string s = info.param.backend + "_" + info.param.spec.substr(0, info.param.spec.size() - 5);
  for (char& ch : s)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
}

INSTANTIATE_TEST_SUITE_P(Regression, BackendSweep, ::testing::ValuesIn(cases()), case_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(BackendSweep);

}  // namespace
}  // namespace attngen
