// The fake serialising backend and the fixture of the kernel cache's tests
// (test_cache.cpp, test_cache_files.cpp): a backend with serialisable kernels
// standing in for the slow-to-build backends that the disk cache exists for,
// and a temporary directory per test.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "codegen/spec/spec.hpp"
#include "runtime/cache/kernel_cache.hpp"

namespace attngen::cache_test {

namespace fs = std::filesystem;

class FakeKernel final : public Kernel {
 public:
  FakeKernel(const Spec& s, std::vector<uint8_t> image) : Kernel(s, "fake", "fake-isa"), image_(std::move(image)) {}
  std::unique_ptr<CallPlan> plan_call(const BoundArgs&, int) const override { throw Error("fake kernels do not run"); }
  std::vector<uint8_t> serialize() const override { return serialisable ? image_ : std::vector<uint8_t>{}; }
  std::vector<CodeBlob> code_blobs() const override {
    return {{"code.bin", image_.data(), image_.size(), "i386:x86-64"}, {"source.txt", image_.data(), image_.size(), nullptr}};
  }
  bool serialisable = true;

 private:
  std::vector<uint8_t> image_;
};

class FakeBackend final : public Backend {
 public:
  std::string name() const override { return "fake"; }
  std::string isa() const override { return "fake-isa"; }
  bool serialises() const override { return serialisable; }
  std::unique_ptr<Kernel> compile(const Spec& spec) const override {
    ++compiles;
    if (delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    if (fail) throw Error("fake: compile failed");
    auto k = std::make_unique<FakeKernel>(spec, image(spec));
    k->serialisable = serialisable && kernel_images;
    return k;
  }
  std::unique_ptr<Kernel> deserialize(const Spec& spec, const std::vector<uint8_t>& img) const override {
    ++loads;
    if (load_throws) throw Error("fake: cannot load this image");
    return img == image(spec) ? std::make_unique<FakeKernel>(spec, img) : nullptr;
  }
  static std::vector<uint8_t> image(const Spec& spec) {
    const std::string s = "fake image of " + canonical_json(spec);
    return {s.begin(), s.end()};
  }
  mutable std::atomic<int> compiles{0}, loads{0};
  int delay_ms = 0;
  bool fail = false, serialisable = true;
  bool kernel_images = true;  // false: serialises() yet its kernels' serialize() is empty
  bool load_throws = false;   // deserialize() throws instead of returning null
};

inline Spec spec_with(int head_dim) {
  return parse_spec(R"({"dtype": "f32", "num_heads": 4, "head_dim": )" + std::to_string(head_dim) + "}");
}

class CacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/attngen-cache-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir = tmpl;
  }
  void TearDown() override { fs::remove_all(dir); }
  CacheConfig config(bool disk = true) const {
    CacheConfig c;
    c.dir = disk ? dir + "/cache" : "";
    return c;
  }
  // Kernel cache files (entries, locks, temporaries) in the cache directory.
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir + "/cache", ec)) out.push_back(e.path().filename().string());
    return out;
  }
  std::string dir;
  FakeBackend backend;
};

}  // namespace attngen::cache_test
