// attngen_merge_states_cuda through the C ABI on the fake CUDA driver, its
// kernel built for the host and run in the block emulator
// (tests/cuda_host/README.md): equal to the host merge (attngen_merge_states,
// float64) within f32 rounding, or one rounding of a 16-bit output, for
// parts of every dtype and layout, empty parts and rows, NaN and +inf LSEs,
// in place, with 32 parts; launched once on the caller's stream, the module
// compiled once a process; bad arguments are statuses naming the tensor.
#include <gtest/gtest.h>

#include <attngen/attngen.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "runtime/core/half.hpp"
#include "tests/fake_cuda/fake_cuda_hooks.hpp"

namespace {

using attngen::testing::fake_counters;
using attngen::testing::fake_last_launch;
using Device = attngen::testing::FakeDevice;

// The kernels run in the emulator, also when the binary is run by hand.
const bool kEmulated = [] {
  ::setenv("FAKE_NVRTC_EMULATE", ATTNGEN_EMULATED_DIR, 0);
  ::setenv("FAKE_CUDA_GUARD_PAGES", "1", 0);
  return true;
}();

constexpr float kInf = std::numeric_limits<float>::infinity();

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

size_t dtype_size(attngen_dtype t) { return t == ATTNGEN_F32 ? 4 : 2; }

float load(const void* base, attngen_dtype t, int64_t i) {
  if (t == ATTNGEN_F32) return static_cast<const float*>(base)[i];
  const uint16_t u = static_cast<const uint16_t*>(base)[i];
  return t == ATTNGEN_F16 ? attngen::f16_to_float(u) : attngen::bf16_to_float(u);
}
void store(void* base, attngen_dtype t, int64_t i, float x) {
  if (t == ATTNGEN_F32)
    static_cast<float*>(base)[i] = x;
  else
    static_cast<uint16_t*>(base)[i] = t == ATTNGEN_F16 ? attngen::double_to_f16(x) : attngen::double_to_bf16(x);
}

// A [B, H, S, Dv] state (O of `dtype`, f32 LSE [B, H, S]) in device memory,
// stored bshd ([B, S, H, Dv] in memory) when `bshd`.
struct State {
  static constexpr int64_t B = 2, H = 3, S = 5, Dv = 40;
  attngen_tensor o{}, lse{};

  State(Device& dev, attngen_dtype dtype, bool bshd) {
    void* od = dev.alloc(B * H * S * Dv * dtype_size(dtype));
    float* ld = static_cast<float*>(dev.alloc(B * H * S * sizeof(float)));
    const int64_t shape[] = {B, H, S, Dv};
    o = attngen_tensor_contiguous(od, dtype, 4, shape);
    lse = attngen_tensor_contiguous(ld, ATTNGEN_F32, 3, shape);
    if (bshd) o.strides[1] = Dv, o.strides[2] = H * Dv;  // [B, S, H, Dv] in memory
  }
  int64_t o_offset(int64_t row, int64_t c) const {
    const int64_t b = row / (H * S), h = row / S % H, s = row % S;
    return b * o.strides[0] + h * o.strides[1] + s * o.strides[2] + c * o.strides[3];
  }
};

// Fills part `p` of `n` with normal O and LSEs, then gives rows special LSEs:
// row 1 an empty part (LSE -inf, O NaN: must not be read), row 2 empty in
// every part, row 3 a NaN LSE, row 4 +inf.
void fill(State& st, int p, int n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  const int64_t rows = State::B * State::H * State::S;
  float* lse = static_cast<float*>(const_cast<void*>(st.lse.data));
  for (int64_t r = 0; r < rows; ++r) {
    lse[r] = 2 * normal(rng);
    for (int64_t c = 0; c < State::Dv; ++c) store(const_cast<void*>(st.o.data), st.o.dtype, st.o_offset(r, c), normal(rng));
  }
  const auto set_row = [&](int64_t r, float l, float o) {
    lse[r] = l;
    for (int64_t c = 0; c < State::Dv; ++c) store(const_cast<void*>(st.o.data), st.o.dtype, st.o_offset(r, c), o);
  };
  if (p == 0) set_row(1, -kInf, NAN);
  set_row(2, -kInf, NAN);
  if (p == n - 1) lse[3] = NAN, lse[4 + State::S] = kInf;
}

// |got - want| within what f32 arithmetic (f32 outputs) or one more rounding
// of the output dtype leaves; NaN where the other is NaN, infinities equal.
void expect_close(float got, float want, attngen_dtype t, const std::string& where) {
  if (std::isnan(want) || std::isinf(want)) {
    EXPECT_TRUE(std::isnan(want) ? std::isnan(got) : got == want) << where << ": " << got << " against " << want;
    return;
  }
  const double ulp = t == ATTNGEN_F32 ? 0x1p-23 : t == ATTNGEN_F16 ? 0x1p-10 : 0x1p-7;
  EXPECT_LE(std::fabs(double(got) - want), 2e-6 + ulp * std::fabs(want)) << where << ": " << got << " against " << want;
}

class MergeStatesCuda : public ::testing::Test {
 protected:
  Device dev;
};

TEST_F(MergeStatesCuda, EqualsTheHostMergeForEveryDtypeAndLayout) {
  const attngen_dtype dtypes[] = {ATTNGEN_F32, ATTNGEN_F16, ATTNGEN_BF16};
  for (attngen_dtype out_type : dtypes) {
    // Three parts, one of each dtype, the second stored bshd.
    std::vector<State> parts;
    for (int p = 0; p < 3; ++p) parts.emplace_back(dev, dtypes[p], p == 1);
    for (int p = 0; p < 3; ++p) fill(parts[size_t(p)], p, 3, 10u + unsigned(p));
    State got(dev, out_type, false), want(dev, out_type, false);
    attngen_tensor os[3], ls[3];
    for (int p = 0; p < 3; ++p) os[p] = parts[size_t(p)].o, ls[p] = parts[size_t(p)].lse;
    ASSERT_EQ(attngen_merge_states(os, ls, 3, &want.o, &want.lse), ATTNGEN_OK) << attngen_last_error();
    ASSERT_EQ(attngen_merge_states_cuda(os, ls, 3, &got.o, &got.lse, nullptr), ATTNGEN_OK) << attngen_last_error();

    const int64_t rows = State::B * State::H * State::S;
    const float* gl = static_cast<const float*>(got.lse.data);
    const float* wl = static_cast<const float*>(want.lse.data);
    for (int64_t r = 0; r < rows; ++r) {
      const std::string where = "out " + std::to_string(out_type) + " row " + std::to_string(r);
      expect_close(gl[r], wl[r], ATTNGEN_F32, where + " lse");
      for (int64_t c = 0; c < State::Dv; ++c)
        expect_close(load(got.o.data, out_type, got.o_offset(r, c)), load(want.o.data, out_type, want.o_offset(r, c)),
                     out_type, where + " col " + std::to_string(c));
    }
    // The special rows are what the semantics say, not only what the host says.
    EXPECT_EQ(gl[2], -kInf);
    EXPECT_EQ(load(got.o.data, out_type, got.o_offset(2, 7)), 0.f);
    EXPECT_TRUE(std::isnan(gl[3]) && std::isnan(gl[4 + State::S]));
    EXPECT_TRUE(std::isfinite(gl[1]) && std::isfinite(load(got.o.data, out_type, got.o_offset(1, 0))));
  }
}

TEST_F(MergeStatesCuda, MergesInPlaceWithTwoDimensionalStates) {
  constexpr int64_t R = 9, Dv = 70;  // more columns than a warp has lanes, twice over
  const int64_t o_shape[] = {R, Dv}, l_shape[] = {R};
  std::vector<attngen_tensor> os, ls;
  std::vector<float> copies;  // the parts as they were, for the host merge
  for (int p = 0; p < 2; ++p) {
    float* o = static_cast<float*>(dev.alloc(R * Dv * 4));
    float* l = static_cast<float*>(dev.alloc(R * 4));
    std::mt19937 rng(40u + unsigned(p));
    std::normal_distribution<float> normal;
    for (int64_t i = 0; i < R * Dv; ++i) o[i] = normal(rng);
    for (int64_t i = 0; i < R; ++i) l[i] = normal(rng);
    os.push_back(attngen_tensor_contiguous(o, ATTNGEN_F32, 2, o_shape));
    ls.push_back(attngen_tensor_contiguous(l, ATTNGEN_F32, 1, l_shape));
    copies.insert(copies.end(), o, o + R * Dv);
    copies.insert(copies.end(), l, l + R);
  }
  std::vector<float> want_o(R * Dv), want_l(R);
  const attngen_tensor host_os[] = {attngen_tensor_contiguous(copies.data(), ATTNGEN_F32, 2, o_shape),
                                    attngen_tensor_contiguous(copies.data() + R * Dv + R, ATTNGEN_F32, 2, o_shape)};
  const attngen_tensor host_ls[] = {attngen_tensor_contiguous(copies.data() + R * Dv, ATTNGEN_F32, 1, l_shape),
                                    attngen_tensor_contiguous(copies.data() + 2 * R * Dv + R, ATTNGEN_F32, 1, l_shape)};
  const attngen_tensor wo = attngen_tensor_contiguous(want_o.data(), ATTNGEN_F32, 2, o_shape);
  const attngen_tensor wl = attngen_tensor_contiguous(want_l.data(), ATTNGEN_F32, 1, l_shape);
  ASSERT_EQ(attngen_merge_states(host_os, host_ls, 2, &wo, &wl), ATTNGEN_OK) << attngen_last_error();

  ASSERT_EQ(attngen_merge_states_cuda(os.data(), ls.data(), 2, &os[1], &ls[1], nullptr), ATTNGEN_OK)
      << attngen_last_error();
  const float* got_o = static_cast<const float*>(os[1].data);
  const float* got_l = static_cast<const float*>(ls[1].data);
  for (int64_t r = 0; r < R; ++r) {
    expect_close(got_l[r], want_l[size_t(r)], ATTNGEN_F32, "lse row " + std::to_string(r));
    for (int64_t c = 0; c < Dv; ++c)
      expect_close(got_o[r * Dv + c], want_o[size_t(r * Dv + c)], ATTNGEN_F32,
                   "row " + std::to_string(r) + " col " + std::to_string(c));
  }
}

TEST_F(MergeStatesCuda, ThirtyTwoPartsWithoutAnLseOutAndNoMore) {
  constexpr int n = 32;
  constexpr int64_t A = 3, R = 2, Dv = 3;
  const int64_t o_shape[] = {A, R, Dv}, l_shape[] = {A, R};
  std::vector<attngen_tensor> os, ls;
  std::vector<float> lse_value(n);
  for (int p = 0; p < n; ++p) {
    float* o = static_cast<float*>(dev.alloc(A * R * Dv * 4));
    float* l = static_cast<float*>(dev.alloc(A * R * 4));
    for (int64_t i = 0; i < A * R * Dv; ++i) o[i] = float(p);  // part p's O is p everywhere
    for (int64_t i = 0; i < A * R; ++i) l[i] = float(p % 4);
    os.push_back(attngen_tensor_contiguous(o, ATTNGEN_F32, 3, o_shape));
    ls.push_back(attngen_tensor_contiguous(l, ATTNGEN_F32, 2, l_shape));
  }
  uint16_t* out = static_cast<uint16_t*>(dev.alloc(A * R * Dv * 2));
  const attngen_tensor o = attngen_tensor_contiguous(out, ATTNGEN_BF16, 3, o_shape);
  ASSERT_EQ(attngen_merge_states_cuda(os.data(), ls.data(), n, &o, nullptr, nullptr), ATTNGEN_OK)
      << attngen_last_error();
  double num = 0, den = 0;
  for (int p = 0; p < n; ++p) num += std::exp(p % 4) * p, den += std::exp(p % 4);
  for (int64_t i = 0; i < A * R * Dv; ++i)
    EXPECT_EQ(out[i], attngen::double_to_bf16(num / den)) << i;  // 16.98...: far from a rounding boundary

  os.push_back(os[0]), ls.push_back(ls[0]);
  EXPECT_EQ(attngen_merge_states_cuda(os.data(), ls.data(), n + 1, &o, nullptr, nullptr), ATTNGEN_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(attngen_last_error(), "num_parts: at most 32 on a CUDA device, got 33")) << attngen_last_error();
}

TEST_F(MergeStatesCuda, LaunchesOnceOnTheCallersStreamAndCompilesOncePerProcess) {
  const int64_t o_shape[] = {4, 6, 8}, l_shape[] = {4, 6};
  float* o = static_cast<float*>(dev.alloc(4 * 6 * 8 * 4));
  float* l = static_cast<float*>(dev.alloc(4 * 6 * 4));
  for (int i = 0; i < 4 * 6 * 8; ++i) o[i] = 1.f;
  for (int i = 0; i < 4 * 6; ++i) l[i] = 0.f;
  const attngen_tensor ot = attngen_tensor_contiguous(o, ATTNGEN_F32, 3, o_shape);
  const attngen_tensor lt = attngen_tensor_contiguous(l, ATTNGEN_F32, 2, l_shape);
  ASSERT_EQ(attngen_merge_states_cuda(&ot, &lt, 1, &ot, &lt, nullptr), ATTNGEN_OK) << attngen_last_error();
  const long loads = fake_counters().module_loads, launches = fake_counters().launches;
  void* const stream = reinterpret_cast<void*>(0x5157);
  ASSERT_EQ(attngen_merge_states_cuda(&ot, &lt, 1, &ot, &lt, stream), ATTNGEN_OK) << attngen_last_error();
  EXPECT_EQ(fake_counters().module_loads, loads);
  EXPECT_EQ(fake_counters().launches, launches + 1);
  const FakeCudaLaunch last = fake_last_launch();
  EXPECT_STREQ(last.entry, "attngen_merge_partial_states");
  EXPECT_EQ(last.stream, stream);
  EXPECT_EQ(last.grid[0], 6u);  // 24 rows, 4 a block
  EXPECT_EQ(last.block[0], 128u);
  for (int i = 0; i < 4 * 6 * 8; ++i) EXPECT_EQ(o[i], 1.f);
  for (int i = 0; i < 4 * 6; ++i) EXPECT_EQ(l[i], 0.f);

  // No rows: nothing to launch.
  const int64_t empty_shape[] = {0, 8}, empty_l[] = {0};
  const attngen_tensor eo = attngen_tensor_contiguous(o, ATTNGEN_F32, 2, empty_shape);
  const attngen_tensor el = attngen_tensor_contiguous(l, ATTNGEN_F32, 1, empty_l);
  ASSERT_EQ(attngen_merge_states_cuda(&eo, &el, 1, &eo, &el, stream), ATTNGEN_OK) << attngen_last_error();
  EXPECT_EQ(fake_counters().launches, launches + 1);
}

TEST_F(MergeStatesCuda, StatesWithoutColumnsMergeTheLseAlone) {
  // Dv 0: the O views are empty and may have no data pointer at all (the host merge's rule too).
  const int64_t o_shape[] = {2, 3, 0}, l_shape[] = {2, 3};
  float* l0 = static_cast<float*>(dev.alloc(6 * 4));
  float* l1 = static_cast<float*>(dev.alloc(6 * 4));
  float* out = static_cast<float*>(dev.alloc(6 * 4));
  for (int i = 0; i < 6; ++i) l0[i] = float(i), l1[i] = i == 2 ? -kInf : 1.f;
  const attngen_tensor os[2] = {attngen_tensor_contiguous(nullptr, ATTNGEN_F32, 3, o_shape),
                                attngen_tensor_contiguous(nullptr, ATTNGEN_BF16, 3, o_shape)};
  const attngen_tensor ls[2] = {attngen_tensor_contiguous(l0, ATTNGEN_F32, 2, l_shape),
                                attngen_tensor_contiguous(l1, ATTNGEN_F32, 2, l_shape)};
  const attngen_tensor lt = attngen_tensor_contiguous(out, ATTNGEN_F32, 2, l_shape);
  ASSERT_EQ(attngen_merge_states_cuda(os, ls, 2, &os[0], &lt, nullptr), ATTNGEN_OK) << attngen_last_error();
  for (int i = 0; i < 6; ++i) {
    const double want = i == 2 ? 2.0 : std::log(std::exp(double(i)) + std::exp(1.0));
    EXPECT_NEAR(out[i], want, 1e-6) << i;
  }
}

TEST_F(MergeStatesCuda, BadArgumentsAreStatusesNamingTheTensor) {
  const int64_t o_shape[] = {2, 3, 8}, l_shape[] = {2, 3}, bad_shape[] = {2, 4, 8};
  float* o = static_cast<float*>(dev.alloc(2 * 4 * 8 * 4));
  float* l = static_cast<float*>(dev.alloc(2 * 3 * 4));
  std::vector<float> host(2 * 3 * 8);
  const attngen_tensor ot = attngen_tensor_contiguous(o, ATTNGEN_F32, 3, o_shape);
  const attngen_tensor lt = attngen_tensor_contiguous(l, ATTNGEN_F32, 2, l_shape);
  const long launches = fake_counters().launches;

  attngen_tensor os[2] = {ot, attngen_tensor_contiguous(host.data(), ATTNGEN_F32, 3, o_shape)}, ls[2] = {lt, lt};
  EXPECT_EQ(attngen_merge_states_cuda(os, ls, 2, &ot, nullptr, nullptr), ATTNGEN_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(attngen_last_error(), "o_parts[1]: ") &&
              contains(attngen_last_error(), "is not memory the CUDA driver knows"))
      << attngen_last_error();

  os[1] = attngen_tensor_contiguous(o, ATTNGEN_F32, 3, bad_shape);
  EXPECT_EQ(attngen_merge_states_cuda(os, ls, 2, &ot, nullptr, nullptr), ATTNGEN_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(attngen_last_error(), "o_parts[1]: expected shape [2, 3, 8] (that of o), got [2, 4, 8]"))
      << attngen_last_error();

  const attngen_tensor half_lse = attngen_tensor_contiguous(l, ATTNGEN_F16, 2, l_shape);
  EXPECT_EQ(attngen_merge_states_cuda(&ot, &half_lse, 1, &ot, nullptr, nullptr), ATTNGEN_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(attngen_last_error(), "lse_parts[0]: expected dtype f32, got f16")) << attngen_last_error();

  const attngen_tensor host_lse = attngen_tensor_contiguous(host.data(), ATTNGEN_F32, 2, l_shape);
  EXPECT_EQ(attngen_merge_states_cuda(&ot, &lt, 1, &ot, &host_lse, nullptr), ATTNGEN_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(attngen_last_error(), "lse: ")) << attngen_last_error();

  EXPECT_EQ(attngen_merge_states_cuda(&ot, &lt, 0, &ot, nullptr, nullptr), ATTNGEN_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(attngen_merge_states_cuda(&ot, &lt, 1, nullptr, nullptr, nullptr), ATTNGEN_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(fake_counters().launches, launches);  // nothing launched for any of them
}

// Run by its own ctest with no driver to load (ATTNGEN_CUDA_DRIVER_LIBRARY
// naming no file): the backend is unavailable, and says why.
TEST(MergeStatesCudaNoDriver, DISABLED_IsABackendErrorWithTheReason) {
  std::vector<float> o(8), l(1);
  const int64_t o_shape[] = {1, 8}, l_shape[] = {1};
  const attngen_tensor ot = attngen_tensor_contiguous(o.data(), ATTNGEN_F32, 2, o_shape);
  const attngen_tensor lt = attngen_tensor_contiguous(l.data(), ATTNGEN_F32, 1, l_shape);
  EXPECT_EQ(attngen_merge_states_cuda(&ot, &lt, 1, &ot, &lt, nullptr), ATTNGEN_ERR_BACKEND);
  EXPECT_TRUE(contains(attngen_last_error(), "cuda: ")) << attngen_last_error();
}

}  // namespace
