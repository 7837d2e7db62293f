// Every tensor of a call placed right before (and, in a second run, right
// after) a PROT_NONE page: a backend that reads or writes one element past (or
// before) a tensor faults here instead of passing quietly. Every regression
// spec at odd lengths, head dims with vector tails, all three dtypes; run by
// ctest on every x86 code path (ATTNGEN_MAX_ISA, ATTNGEN_BF16_DOT).
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "runtime/core/backend.hpp"
#include "runtime/llvm/llvm_backend.hpp"
#include "runtime/x86/x86_backend.hpp"
#include "tests/regression_specs.hpp"
#include "tools/common/workload.hpp"

namespace attngen {
namespace {


// A copy of one tensor's bytes whose first (or last) byte touches a PROT_NONE page.
class GuardedTensor {
 public:
  GuardedTensor(const TensorRef& t, bool guard_after) : ref_(t) {
    if (!t.present() || t.data == nullptr) return;
    int64_t last = 0;
    for (int d = 0; d < t.rank; ++d) {
      if (t.shape[d] == 0) return;
      last += (t.shape[d] - 1) * t.stride[d];
    }
    span_ = size_t(last + 1) * elem_size(t.type);
    const size_t page = size_t(sysconf(_SC_PAGESIZE));
    const size_t data_pages = (span_ + page - 1) / page;
    len_ = (data_pages + 1) * page;
    base_ = mmap(nullptr, len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base_ == MAP_FAILED) throw std::runtime_error("mmap failed");
    char* b = static_cast<char*>(base_);
    char* guard = guard_after ? b + data_pages * page : b;
    char* data = guard_after ? guard - span_ : b + page;
    std::memcpy(data, t.data, span_);
    if (mprotect(guard, page, PROT_NONE) != 0) throw std::runtime_error("mprotect failed");
    ref_.data = data;
  }
  ~GuardedTensor() {
    if (base_ != MAP_FAILED) munmap(base_, len_);
  }
  GuardedTensor(const GuardedTensor&) = delete;
  GuardedTensor& operator=(const GuardedTensor&) = delete;

  const TensorRef& ref() const { return ref_; }
  void copy_to(void* dst) const {
    if (span_) std::memcpy(dst, ref_.data, span_);
  }

 private:
  TensorRef ref_;
  void* base_ = MAP_FAILED;
  size_t len_ = 0, span_ = 0;
};

struct GuardCase {
  const Backend* backend;
  std::string spec;
};
void PrintTo(const GuardCase& c, std::ostream* os) { *os << c.backend->name() << " " << c.spec; }

class GuardPages : public ::testing::TestWithParam<GuardCase> {};

TEST_P(GuardPages, NothingOutsideTheTensorsIsTouched) {
  const Backend& backend = *GetParam().backend;
  const nlohmann::json base = testing::load_regression_spec(GetParam().spec);
  // llvm compiles each configuration in ~0.55 s: fewer lengths (still 1, odd, past a tile).
  // Sq 8 makes x86 tiles of 16 and 32 rows, which read K and V in place with
  // the rows in vector lanes (lanes_kernels.hpp) in every dtype.
  const std::vector<int64_t> lengths = backend.name() == "llvm" ? std::vector<int64_t>{1, 17, 65}
                                                                 : std::vector<int64_t>{1, 3, 8, 17, 65, 129};
  const int dims[][2] = {{33, 17}, {72, 40}, {128, 128}, {16, 80}};
  const char* dtypes[] = {"f32", "f16", "bf16"};
  // llvm: the guard before and the guard after run one configuration (one
  // compile, about 0.55 s, for the two); x86 compiles in a millisecond and
  // takes a configuration of its own for each.
  const bool one_per_pair = backend.name() == "llvm";
  size_t k = 0;
  for (int64_t sq : lengths)
    for (int64_t skv : lengths) {
      if (sq != skv && sq != 1 && skv != 1 && sq != 17 && sq != 8) continue;  // a cross, plus two full rows
      std::unique_ptr<Kernel> kernel;
      for (bool after : {true, false}) {
        const size_t n = k++;
        const size_t cfg = one_per_pair ? n / 2 : n;  // the spec's configuration
        nlohmann::json j = base;
        j["dtype"] = dtypes[cfg % 3];
        j["head_dim"] = dims[cfg % 4][0];
        j["head_dim_v"] = dims[cfg % 4][1];
        j["num_kv_heads"] = 1 + int(cfg % 2);
        j["num_heads"] = j["num_kv_heads"].get<int>() * (cfg % 3 == 0 ? 4 : 2);
        j["layout"] = cfg % 5 < 2 ? "bshd" : "bhsd";
        const Spec spec = parse_spec(j.dump());
        WorkloadOptions opt;
        opt.batch = 1 + int64_t(n % 3);
        opt.sq = sq, opt.skv = skv;
        opt.seed = 77 + n;
        opt.mask_shape = MaskShape(n % 3);
        opt.additive_in_spec_dtype = n % 2 == 1;
        Workload w(spec, opt);
        std::ostringstream what;
        what << backend.name() << " " << GetParam().spec << " " << j["dtype"].get<std::string>() << " Sq " << sq << " Skv " << skv << " D "
             << spec.head_dim << " Dv " << spec.head_dim_v << " " << j["layout"].get<std::string>() << " B "
             << opt.batch << (after ? " guard after" : " guard before");
        SCOPED_TRACE(what.str());
        const AttentionArgs a = w.args();
        std::vector<std::unique_ptr<GuardedTensor>> held;
        auto guard = [&](const TensorRef& t) {
          held.push_back(std::make_unique<GuardedTensor>(t, after));
          return held.back()->ref();
        };
        AttentionArgs g = a;
        for (TensorRef* t : {&g.q, &g.k, &g.v, &g.o, &g.lse, &g.q_lens, &g.kv_lens, &g.q_doc, &g.kv_doc, &g.mask,
                             &g.alibi_slopes, &g.prefix_lens})
          *t = guard(*t);
        if (!kernel || !one_per_pair) kernel = backend.compile(spec);
        kernel->run(g, RunOptions{int(1 + n % 2)});
        // Outputs back into the workload's buffers, then against the reference.
        std::vector<uint8_t> o(w.o_bytes());
        held[3]->copy_to(o.data());
        std::vector<float> lse(w.lse_count());
        if (spec.return_lse) held[4]->copy_to(lse.data());
        const Comparison c = compare_with_reference(w, o, spec.return_lse ? &lse : nullptr);
        EXPECT_TRUE(c.rel_err <= default_tolerance(spec.dtype) && c.nonfinite == 0 && c.empty_rows_nonzero == 0)
            << c.summary();
      }
    }
}

std::vector<GuardCase> cases() {
  std::vector<GuardCase> out;
  for (const Backend* b : {&x86_backend(), &llvm_backend()})
    if (b->unavailable_reason().empty())
      for (const std::string& spec : testing::regression_specs()) out.push_back({b, spec});
  return out;
}

std::string case_name(const ::testing::TestParamInfo<GuardCase>& info) {
  std::string s = info.param.backend->name() + "_" + info.param.spec.substr(0, info.param.spec.size() - 5);
  for (char& ch : s)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
}

INSTANTIATE_TEST_SUITE_P(Regression, GuardPages, ::testing::ValuesIn(cases()), case_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(GuardPages);

}  // namespace
}  // namespace attngen
