#include "runtime/cuda/nvrtc_compiler.hpp"

#include <chrono>
#include <cstdio>
#include <exception>
#include <system_error>
#include <thread>

#include "runtime/core/error.hpp"
#include "runtime/core/slow_notice.hpp"
#include "runtime/cuda/nvrtc_library.hpp"

namespace attngen::cuda {
namespace {

// Destroys the program however the compile ends.
struct Program {
  const NvrtcLibrary& lib;
  nvrtcProgram p = nullptr;
  ~Program() {
    if (p) lib.DestroyProgram(&p);
  }
};

void check(const NvrtcLibrary& lib, nvrtcResult r, const std::string& what, const char* call) {
  if (r != 0) throw Error(what + ": " + call + " failed: " + lib.GetErrorString(r));
}

// One program: created, compiled and read back (no progress line: the caller's).
NvrtcOutput compile_one(const NvrtcLibrary& lib, const std::string& source, const std::string& file,
                        const std::vector<std::string>& options, const std::string& gpu_arch, const std::string& what) {
  Program prog{lib};
  check(lib, lib.CreateProgram(&prog.p, source.c_str(), file.c_str(), 0, nullptr, nullptr), what,
        "nvrtcCreateProgram");
  std::vector<std::string> all = options;
  all.push_back("--gpu-architecture=" + gpu_arch);
  std::vector<const char*> argv;
  for (const std::string& o : all) argv.push_back(o.c_str());

  const nvrtcResult compiled = lib.CompileProgram(prog.p, int(argv.size()), argv.data());
  NvrtcOutput out;
  size_t n = 0;
  if (lib.GetProgramLogSize(prog.p, &n) == 0 && n > 1) {
    out.log.resize(n);
    if (lib.GetProgramLog(prog.p, out.log.data()) != 0) out.log.clear();
    while (!out.log.empty() && (out.log.back() == '\0' || out.log.back() == '\n')) out.log.pop_back();
  }
  if (compiled != 0) {
    std::string opts;
    for (const std::string& o : all) opts += " " + o;
    throw Error("cuda: NVRTC " + lib.version() + " failed to compile " + what + " (" + file + ", options" + opts +
                "): " + lib.GetErrorString(compiled) + "\n" + (out.log.empty() ? "(empty log)" : out.log));
  }
  if (gpu_arch.rfind("sm_", 0) == 0) {
    check(lib, lib.GetCUBINSize(prog.p, &n), what, "nvrtcGetCUBINSize");
    out.cubin.resize(n);
    check(lib, lib.GetCUBIN(prog.p, reinterpret_cast<char*>(out.cubin.data())), what, "nvrtcGetCUBIN");
  }
  if (lib.GetPTXSize(prog.p, &n) == 0 && n > 0) {
    out.ptx.resize(n);
    if (lib.GetPTX(prog.p, out.ptx.data()) != 0) out.ptx.clear();
    while (!out.ptx.empty() && out.ptx.back() == '\0') out.ptx.pop_back();
  }
  return out;
}

}  // namespace

NvrtcOutput nvrtc_compile(const std::string& source, const std::string& file, const std::vector<std::string>& options,
                          const std::string& gpu_arch, const std::string& what) {
  return std::move(nvrtc_compile_each(source, file, {options}, gpu_arch, what)[0]);
}

std::vector<NvrtcOutput> nvrtc_compile_each(const std::string& source, const std::string& file,
                                            const std::vector<std::vector<std::string>>& option_sets,
                                            const std::string& gpu_arch, const std::string& what) {
  std::string why;
  const NvrtcLibrary* lib = nvrtc_library(&why);
  if (!lib) throw Error("cuda: cannot compile " + what + ": " + why);
  const size_t n = option_sets.size();
  std::vector<NvrtcOutput> out(n);
  std::vector<std::exception_ptr> failed(n);
  const auto run = [&](size_t i) {
    try {
      out[i] = compile_one(*lib, source, file, option_sets[i], gpu_arch, what);
    } catch (...) {
      failed[i] = std::current_exception();
    }
  };
  {
    SlowNotice notice("compiling " + what + " with NVRTC (a few seconds; cached afterwards)...",
                      std::chrono::seconds(1));
    std::vector<std::thread> threads;
    for (size_t i = 1; i < n; ++i) {
      try {
        threads.emplace_back(run, i);
      } catch (const std::system_error&) {
        run(i);  // no thread to be had: this one in turn
      }
    }
    if (n > 0) run(0);
    for (std::thread& t : threads) t.join();
  }
  for (const std::exception_ptr& e : failed)
    if (e) std::rethrow_exception(e);
  return out;
}

}  // namespace attngen::cuda
