// Fuzz target: the disk cache's entry decoder (decode_entry and
// DiskCache::load, runtime/cache/disk_cache.cpp) and what a loaded entry
// reaches: the spec parser and the x86 backend's image loader. Any input is
// an entry or an Error saying what is wrong, never a crash or a hang; a
// decoded entry encodes back to the same bytes. The first byte picks a mode:
//   0: the bytes as a whole entry;
//   1: the bytes with their correct checksum appended (to get past it);
//   2: an x86 code image: a real image's header (plan, sources hash) then the bytes;
//   3: the bytes, with their checksum appended, as the file of an entry, read
//      through DiskCache::load (generator, toolchain, key and spec checks).
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "codegen/spec/spec.hpp"
#include "runtime/cache/disk_cache.hpp"
#include "runtime/core/backend.hpp"
#include "runtime/core/error.hpp"
#include "runtime/core/version.hpp"
#include "runtime/x86/code_image.hpp"
#include "runtime/x86/x86_kernel.hpp"
#include "tests/fuzz/fuzz_checks.hpp"

namespace {

using namespace attngen;

const char* kSpec = R"({"dtype": "f32", "head_dim": 16, "num_heads": 2})";

struct State {
  const Backend* x86 = nullptr;  // when available here
  Spec spec;
  std::string plan;                  // host_plan(spec).describe()
  std::vector<uint8_t> image_header;  // of a real image of `spec`, up to its first slot
  std::string dir;
};

const State& state() {
  static const State* s = [] {
    auto* st = new State;
    st->spec = parse_spec(kSpec);
    for (const Backend* b : all_backends())
      if (b->name() == "x86" && b->unavailable_reason().empty()) st->x86 = b;
    if (st->x86) {
      st->plan = x86::X86Kernel::host_plan(st->spec).describe();
      const std::vector<uint8_t> image = st->x86->compile(st->spec)->serialize();
      uint32_t plan_size = 0;
      std::memcpy(&plan_size, image.data() + 18, 4);  // magic 10, version 4, slots 4
      st->image_header.assign(image.begin(), image.begin() + 22 + plan_size);
    }
    st->dir = (std::filesystem::temp_directory_path() / ("attngen-fuzz-entry-" + std::to_string(getpid()))).string();
    std::filesystem::create_directories(st->dir);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(state().dir, ec);
    });
    return st;
  }();
  return *s;
}

uint64_t fnv1a64(const uint8_t* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

// What the kernel cache does with an entry that decoded: check it against its
// key, then hand the payload to its backend.
void use_entry(const DiskEntry& e) {
  Spec spec;
  try {
    spec = parse_spec(e.spec);
  } catch (const SpecError& err) {
    fuzz::check_message(err.what());
    return;
  }
  cache_key(spec, e.backend, e.isa);
  const State& st = state();
  if (st.x86 && e.backend == "x86" && st.x86->unsupported_reason(spec).empty()) st.x86->deserialize(spec, e.payload);
}

void decode(const std::vector<uint8_t>& bytes) {
  DiskEntry e;
  try {
    e = decode_entry(bytes);
  } catch (const Error& err) {
    fuzz::check_message(err.what());
    return;
  }
  if (encode_entry(e) != bytes) fuzz::fail("decoded entry does not encode back to its bytes", "");
  use_entry(e);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  state();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const State& st = state();
  std::vector<uint8_t> bytes(data + 1, data + size);
  switch (data[0] % 4) {
    case 0:
      decode(bytes);
      break;
    case 1: {
      const uint64_t sum = fnv1a64(bytes.data(), bytes.size());
      for (int i = 0; i < 8; ++i) bytes.push_back(uint8_t(sum >> (8 * i)));
      decode(bytes);
      break;
    }
    case 2: {
      if (!st.x86) break;
      std::vector<uint8_t> image = st.image_header;
      image.insert(image.end(), bytes.begin(), bytes.end());
      try {
        x86::CodeSet code = x86::decode_image(image, st.plan);
        for (int s = 0; s < x86::kNumSlots; ++s)
          if (code.has(s) && code.size[s] == 0) fuzz::fail("empty slot mapped", "");
      } catch (const Error& err) {
        fuzz::check_message(err.what());
      }
      break;
    }
    case 3: {
      const uint64_t sum = fnv1a64(bytes.data(), bytes.size());
      for (int i = 0; i < 8; ++i) bytes.push_back(uint8_t(sum >> (8 * i)));
      const DiskCache cache(st.dir);
      // Stored under the key its spec hashes to where it has one, so that an
      // entry can pass every check.
      std::string key = "0123456789abcdef";
      try {
        const DiskEntry e = decode_entry(bytes);
        key = e.key;
        key = cache_key(parse_spec(e.spec), e.backend, e.isa);
      } catch (const Error&) {
      }
      if (key.size() != 16 || key.find_first_not_of("0123456789abcdef") != std::string::npos) key = "0123456789abcdef";
      {
        std::ofstream out(cache.entry_path(key), std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
      }
      std::string why;
      std::optional<DiskEntry> e = cache.load(key, &why);
      if (e) {
        if (e->key != key || e->generator != kGeneratorVersion) fuzz::fail("load accepted another key or generator", "");
        use_entry(*e);
      } else if (why.empty()) {
        fuzz::fail("an entry file was refused without a reason", "");
      } else {
        fuzz::check_message(why);
        if (std::filesystem::exists(cache.entry_path(key))) fuzz::fail("a refused entry was not deleted", why);
      }
      break;
    }
  }
  return 0;
}
