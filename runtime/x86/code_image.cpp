#include "runtime/x86/code_image.hpp"

#include <cstring>
#include <sys/mman.h>

#include "attngen_x86_sources.hpp"
#include "runtime/core/error.hpp"

namespace attngen::x86 {
namespace {

constexpr char kMagic[10] = {'A', 'T', 'T', 'N', 'G', 'E', 'N', 'X', '8', '6'};
constexpr uint32_t kImageVersion = 3;

// Executable pages holding one slot's code.
struct MappedCode {
  void* p = MAP_FAILED;
  size_t n = 0;
  ~MappedCode() {
    if (p != MAP_FAILED) munmap(p, n);
  }
};

void put(std::vector<uint8_t>& out, const void* data, size_t n) {
  const size_t at = out.size();
  out.resize(at + n);
  std::memcpy(out.data() + at, data, n);
}
template <class T>
void put(std::vector<uint8_t>& out, T v) {
  put(out, &v, sizeof v);
}

// What an image's code depends on besides the spec (which is in the cache
// key): the plan and the generator's sources.
std::string fingerprint(const std::string& plan) { return plan + " | sources " + kSourcesHash; }

}  // namespace

const char* slot_name(int slot) {
  static const char* names[kNumSlots] = {"qk_gemm",       "pv_gemm",      "qk_direct",          "pv_direct",
                                         "qk_lanes16",    "pv_lanes16",   "qk_lanes32",         "pv_lanes32",
                                         "softmax_full",  "softmax_partial", "softmax_full_dtype", "softmax_partial_dtype"};
  return names[slot];
}

std::vector<uint8_t> encode_image(const CodeSet& code, const std::string& plan_text) {
  const std::string plan = fingerprint(plan_text);
  std::vector<uint8_t> out;
  put(out, kMagic, sizeof kMagic);
  put(out, kImageVersion);
  put(out, uint32_t(kNumSlots));
  put(out, uint32_t(plan.size()));
  put(out, plan.data(), plan.size());
  for (int s = 0; s < kNumSlots; ++s) {
    put(out, uint64_t(code.has(s) ? code.size[s] : 0));
    if (code.has(s)) put(out, code.entry[s], code.size[s]);
  }
  return out;
}

CodeSet decode_image(const std::vector<uint8_t>& image, const std::string& plan_text) {
  const std::string plan = fingerprint(plan_text);
  size_t pos = 0;
  auto take = [&](void* dst, size_t n) {
    if (image.size() - pos < n) throw Error("x86 kernel image: truncated");
    std::memcpy(dst, image.data() + pos, n);
    pos += n;
  };
  char magic[sizeof kMagic];
  uint32_t version = 0, slots = 0;
  take(magic, sizeof magic);
  take(&version, 4);
  take(&slots, 4);
  if (std::memcmp(magic, kMagic, sizeof kMagic) != 0 || version != kImageVersion || slots != kNumSlots)
    throw Error("x86 kernel image: not an image of this generator version");
  uint32_t plan_size = 0;
  take(&plan_size, 4);
  if (plan_size > image.size() - pos) throw Error("x86 kernel image: truncated");
  const std::string image_plan(reinterpret_cast<const char*>(image.data() + pos), plan_size);
  pos += plan_size;
  if (image_plan != plan)
    throw Error("x86 kernel image: generated for \"" + image_plan + "\", this process generates \"" + plan + "\"");
  CodeSet code;
  for (int s = 0; s < kNumSlots; ++s) {
    uint64_t n = 0;
    take(&n, 8);
    if (n == 0) continue;
    if (n > image.size() - pos) throw Error("x86 kernel image: truncated");
    auto m = std::make_shared<MappedCode>();
    m->n = size_t(n);
    m->p = mmap(nullptr, m->n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m->p == MAP_FAILED) throw Error("x86 kernel image: cannot map code pages");
    take(m->p, m->n);
    if (mprotect(m->p, m->n, PROT_READ | PROT_EXEC) != 0) throw Error("x86 kernel image: cannot make code executable");
    code.entry[s] = m->p, code.size[s] = m->n;
    code.owners.push_back(m);
  }
  if (pos != image.size()) throw Error("x86 kernel image: trailing bytes");
  if (!code.has(kSlotQk) || !code.has(kSlotPv) || !code.has(kSlotSoftmaxFull) || !code.has(kSlotSoftmaxPartial))
    throw Error("x86 kernel image: a required kernel is missing");
  return code;
}

}  // namespace attngen::x86
