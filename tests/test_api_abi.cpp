// The structs of the C ABI travel with the caller's sizeof them (attngen.h):
// a caller whose struct is shorter than the library's (a program built
// against an older header, a binding declaring it itself) gets nothing
// written past it and nothing read past it; one whose struct is longer (a
// newer header) gets the fields this library does not know zeroed on output,
// and refused on input when set, rather than ignored.
#include <gtest/gtest.h>

#include <attngen/attngen.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr unsigned char kPoison = 0xAB;
const char* kSpec = R"({"dtype": "f32", "head_dim": 8, "num_heads": 2})";

// A caller's struct of `size` bytes inside a poisoned buffer with room past it.
template <typename T>
struct CallerStruct {
  alignas(T) unsigned char bytes[sizeof(T) + 32];
  CallerStruct() { std::memset(bytes, kPoison, sizeof bytes); }
  T* get() { return reinterpret_cast<T*>(bytes); }
  bool untouched_from(size_t at) const {
    for (size_t i = at; i < sizeof bytes; ++i)
      if (bytes[i] != kPoison) return false;
    return true;
  }
};

std::string last_error() { return attngen_last_error(); }

attngen_kernel* compile(const char* spec) {
  attngen_kernel* k = nullptr;
  EXPECT_EQ(attngen_kernel_compile(spec, nullptr, &k), ATTNGEN_OK) << last_error();
  return k;
}

struct Tensors {
  std::vector<float> q = std::vector<float>(2 * 5 * 8, 0.5f), k = std::vector<float>(2 * 7 * 8, 0.25f),
                     v = std::vector<float>(2 * 7 * 8, 1.0f), o = std::vector<float>(2 * 5 * 8, NAN);
  void fill(attngen_args* a) {
    const int64_t qs[] = {1, 2, 5, 8}, ks[] = {1, 2, 7, 8};
    a->q = attngen_tensor_contiguous(q.data(), ATTNGEN_F32, 4, qs);
    a->k = attngen_tensor_contiguous(k.data(), ATTNGEN_F32, 4, ks);
    a->v = attngen_tensor_contiguous(v.data(), ATTNGEN_F32, 4, ks);
    a->o = attngen_tensor_contiguous(o.data(), ATTNGEN_F32, 4, qs);
  }
};

TEST(ApiAbi, OptionsInitWritesOnlyTheCallersStruct) {
  CallerStruct<attngen_compile_options> full;
  attngen_compile_options_init(full.get());
  EXPECT_EQ(full.get()->struct_size, sizeof(attngen_compile_options));
  EXPECT_EQ(full.get()->backend, nullptr);
  EXPECT_EQ(full.get()->cuda_tile, nullptr);
  EXPECT_TRUE(full.untouched_from(sizeof(attngen_compile_options)));

  constexpr size_t kOld = offsetof(attngen_compile_options, cuda_tile);  // a struct without cuda_tile
  CallerStruct<attngen_compile_options> old;
  attngen_compile_options_init_sized(old.get(), kOld);
  EXPECT_EQ(old.get()->struct_size, kOld);
  EXPECT_EQ(old.get()->backend, nullptr);
  EXPECT_TRUE(old.untouched_from(kOld));
  // Nor is anything past it read (0xABAB... as cuda_tile would be a wild pointer).
  old.get()->backend = "reference";
  attngen_kernel* k = nullptr;
  ASSERT_EQ(attngen_kernel_compile(kSpec, old.get(), &k), ATTNGEN_OK) << last_error();
  attngen_kernel_release(k);

  CallerStruct<attngen_compile_options> tiny;  // too small to hold struct_size: nothing is written
  attngen_compile_options_init_sized(tiny.get(), 2);
  EXPECT_TRUE(tiny.untouched_from(0));
  attngen_compile_options_init_sized(tiny.get(), size_t(1) << 40);  // a binding's mistake, not a struct
  EXPECT_TRUE(tiny.untouched_from(0));
}

TEST(ApiAbi, ArgsAreReadOnlyAsFarAsTheCallersStruct) {
  attngen_kernel* k = compile(kSpec);
  Tensors t;
  // A struct that ends after o: lse and the run-time tensors are empty, and the
  // poison past it (a non-null lse descriptor if read) is not read.
  constexpr size_t kShort = offsetof(attngen_args, lse);
  CallerStruct<attngen_args> shortened;
  t.fill(shortened.get());
  ASSERT_EQ(attngen_kernel_run_sized(k, shortened.get(), kShort, 1), ATTNGEN_OK) << last_error();
  EXPECT_FLOAT_EQ(t.o[0], 1.0f);  // every V element is 1
  attngen_call* call = nullptr;
  ASSERT_EQ(attngen_kernel_prepare_sized(k, shortened.get(), kShort, 2, &call), ATTNGEN_OK) << last_error();
  attngen_call_release(call);

  EXPECT_EQ(attngen_kernel_run_sized(k, shortened.get(), offsetof(attngen_args, o), 1), ATTNGEN_ERR_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("args_size: must be at least " + std::to_string(kShort) + " (q, k, v and o)"),
            std::string::npos)
      << last_error();
  EXPECT_NE(last_error().find(", got " + std::to_string(offsetof(attngen_args, o))), std::string::npos) << last_error();

  // A newer caller's struct: bytes past this library's are fine while 0, refused when set.
  struct Newer {
    attngen_args args;
    attngen_tensor block_table;
  } newer{};
  t.fill(&newer.args);
  ASSERT_EQ(attngen_kernel_run_sized(k, &newer.args, sizeof newer, 1), ATTNGEN_OK) << last_error();
  newer.block_table.rank = 2;
  EXPECT_EQ(attngen_kernel_run_sized(k, &newer.args, sizeof newer, 1), ATTNGEN_ERR_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("args: fields past the " + std::to_string(sizeof(attngen_args)) +
                              " bytes this library knows are set"),
            std::string::npos)
      << last_error();
  EXPECT_EQ(attngen_kernel_run_cuda_sized(k, &newer.args, sizeof newer, nullptr), ATTNGEN_ERR_INVALID_ARGUMENT);
  // A size no struct has is refused before a byte past the struct is read.
  EXPECT_EQ(attngen_kernel_run_sized(k, &newer.args, SIZE_MAX, 1), ATTNGEN_ERR_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("and at most " + std::to_string(16 * sizeof(attngen_args))), std::string::npos)
      << last_error();
  EXPECT_EQ(attngen_kernel_run_sized(k, nullptr, sizeof(attngen_args), 1), ATTNGEN_ERR_INVALID_ARGUMENT);
  attngen_kernel_release(k);
}

TEST(ApiAbi, InfoIsWrittenOnlyAsFarAsTheCallersStruct) {
  attngen_kernel* k = compile(kSpec);
  constexpr size_t kShort = offsetof(attngen_kernel_info, writes_lse);  // key, backend, isa, spec
  CallerStruct<attngen_kernel_info> shortened;
  ASSERT_EQ(attngen_kernel_get_info_sized(k, shortened.get(), kShort), ATTNGEN_OK) << last_error();
  EXPECT_EQ(std::strlen(shortened.get()->key), 16u);
  EXPECT_TRUE(shortened.untouched_from(kShort));

  struct Newer {
    attngen_kernel_info info;
    int64_t later_field;
  } newer;
  std::memset(&newer, kPoison, sizeof newer);
  ASSERT_EQ(attngen_kernel_get_info_sized(k, &newer.info, sizeof newer), ATTNGEN_OK) << last_error();
  EXPECT_EQ(newer.info.num_heads, 2);
  EXPECT_EQ(newer.later_field, 0);  // a field this library does not know: 0
  EXPECT_EQ(attngen_kernel_get_info_sized(k, &newer.info, SIZE_MAX), ATTNGEN_ERR_INVALID_ARGUMENT);
  attngen_kernel_info info;
  ASSERT_EQ(attngen_kernel_get_info(k, &info), ATTNGEN_OK);
  EXPECT_EQ(info.head_dim, 8);
  attngen_kernel_release(k);
}

}  // namespace
