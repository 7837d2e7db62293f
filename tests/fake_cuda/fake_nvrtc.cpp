// A fake libnvrtc for tests (tests/fake_cuda/fake_cuda.h): the functions
// runtime/cuda/nvrtc_library.cpp resolves. A compile checks the options the
// way NVRTC does for what attngen passes (one --gpu-architecture, -D macros;
// unknown options are refused), finds the extern "C" __global__ entry points
// the source has with those macros and returns a fake cubin naming them, a
// PTX stub and, with --ptxas-options=-v, a ptxas report in NVRTC's log format.
// FAKE_NVRTC_FAIL=1 fails the compile with an error log, =nvrtcGetCUBIN,...
// fails those calls; FAKE_NVRTC_DELAY_MS=N makes a compile take N ms;
// FAKE_NVRTC_RENDEZVOUS=N makes a compile wait for N in flight together.
// FAKE_NVRTC_EMULATE=DIR also builds the source for the host into a shared
// object in DIR, named in the cubin, which the fake driver's launches run in
// the block emulator (tests/cuda_host/README.md).
#include <algorithm>
#include <chrono>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "runtime/cuda/nvrtc_library.hpp"
#include "tests/fake_cuda/fake_cuda.h"

// The functions take exactly the types attngen declares for them (UBSan's
// function check compares the two); a program is the fake's Program.
using attngen::cuda::nvrtcProgram;
using attngen::cuda::nvrtcResult;

namespace {

enum : int {
  kSuccess = 0,
  kInvalidInput = 3,
  kInvalidProgram = 4,
  kInvalidOption = 5,
  kCompilation = 6,
};

struct Program {
  std::string source, name, log, cubin, ptx;
  bool compiled = false;
};

// FAKE_NVRTC_FAIL=1: the compile fails; =nvrtcA,nvrtcB: those functions fail.
bool injected(const char* fn) {
  const char* v = std::getenv("FAKE_NVRTC_FAIL");
  if (!v) return false;
  if (std::strcmp(v, "1") == 0) return std::strcmp(fn, "nvrtcCompileProgram") == 0;
  const std::string list = std::string(",") + v + ",";
  return list.find(std::string(",") + fn + ",") != std::string::npos;
}

bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// The value of a conditional's operand: a number, or a macro's (through
// macros naming macros); 0 for an undefined name, as the preprocessor has it.
long value_of(const std::map<std::string, std::string>& defines, std::string token) {
  for (int i = 0; i < 8 && defines.count(token); ++i) token = defines.at(token);
  return std::atol(token.c_str());
}

// Names of the `extern "C" __global__ void [__launch_bounds__(...)] NAME(` in
// `source`, NAME expanded through object-like #defines (the renderer's
// AG_ENTRY). Honours the forms of conditional the templates use (#ifndef X,
// #ifdef X, #if X, #if !X, #if X == Y, #if X != Y, #else, #endif) with
// `defines` (-D options) and the source's own #defines, as a compile with
// those options would; any other #if is taken as true.
std::vector<std::string> entries_of(const std::string& source, std::map<std::string, std::string> defines) {
  std::vector<std::string> names;
  std::vector<bool> active{true};  // the enclosing conditionals' states
  const std::string head = "extern \"C\" __global__ void ";
  size_t at = 0;
  while (at < source.size()) {
    size_t eol = source.find('\n', at);
    if (eol == std::string::npos) eol = source.size();
    std::istringstream line(source.substr(at, eol - at));
    at = eol + 1;
    std::string word, a, op, b;
    line >> word;
    if (word == "#ifndef" || word == "#ifdef") {
      line >> a;
      active.push_back(active.back() && (defines.count(a) != 0) == (word == "#ifdef"));
    } else if (word == "#if") {
      line >> a >> op >> b;
      bool taken = true;
      if (op.empty() || op.compare(0, 2, "//") == 0)
        taken = a[0] == '!' ? value_of(defines, a.substr(1)) == 0 : value_of(defines, a) != 0;
      else if (op == "==" || op == "!=")
        taken = (value_of(defines, a) == value_of(defines, b)) == (op == "==");
      active.push_back(active.back() && taken);
    } else if (word == "#else" && active.size() > 1) {
      const bool taken = active.back();
      active.pop_back();
      active.push_back(active.back() && !taken);
    } else if (word == "#endif" && active.size() > 1) {
      active.pop_back();
    } else if (!active.back()) {
      continue;
    } else if (word == "#define") {
      line >> a >> b;
      if (a.find('(') == std::string::npos) defines[a] = b;  // not a function-like macro
    } else if (line.str().compare(0, head.size(), head) == 0) {
      size_t start = head.size();
      const std::string& text = line.str();
      if (text.compare(start, 18, "__launch_bounds__(") == 0) {
        start = text.find(')', start);
        if (start == std::string::npos) continue;
        start += 2;  // ") "
      }
      size_t end = start;
      while (end < text.size() && ident_char(text[end])) ++end;
      std::string name = text.substr(start, end - start);
      for (int i = 0; i < 8 && defines.count(name); ++i) name = defines[name];
      if (!name.empty() && std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
  }
  return names;
}

// Compiles in flight: the most at once since the last fake_nvrtc_take_max_in_flight.
// FAKE_NVRTC_RENDEZVOUS=N: a compile waits (10 s at most) until N are in flight.
std::mutex flight_mu;
std::condition_variable flight_cv;
int flying = 0, most_flying = 0;

struct InFlight {
  InFlight() {
    std::unique_lock<std::mutex> lock(flight_mu);
    most_flying = std::max(most_flying, ++flying);
    flight_cv.notify_all();
    if (const char* n = std::getenv("FAKE_NVRTC_RENDEZVOUS"))
      flight_cv.wait_for(lock, std::chrono::seconds(10), [&] { return most_flying >= std::atoi(n); });
  }
  ~InFlight() {
    std::lock_guard<std::mutex> lock(flight_mu);
    --flying;
  }
};


const char* emulate_dir() {
  const char* d = std::getenv("FAKE_NVRTC_EMULATE");
  return d && *d ? d : nullptr;
}

std::string run_command(const std::string& cmd, int& status) {
  std::string out;
  FILE* f = popen((cmd + " 2>&1").c_str(), "r");
  if (!f) {
    status = -1;
    return "popen failed";
  }
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  status = pclose(f);
  return out;
}

std::mutex host_build_mu;

// The rendered source built for the host: tests/cuda_host/device_host.hpp
// first, ptx_host.hpp in place of the part from templates/cuda/ptx.cuh to
// the next template (the PTX and the rendered wgmma MMAs), entries_host.hpp
// last; into DIR/<hash>.so (kept: the same source and options reuse it).
// Without AG_MODULE: one build holds every entry point, and the kernel's two
// modules (compiled side by side) share it; each cubin still names only its
// own entries, which are all the driver finds in it. Returns the path, or ""
// with the reason in `log`.
std::string build_for_host(const std::string& source, std::map<std::string, std::string> defines,
                           const std::string& dir, std::string& log) {
#if defined(FAKE_NVRTC_HOST_CXX) && defined(FAKE_NVRTC_EMULATOR_LIB)
  defines.erase("AG_MODULE");
  // To the next template: attention_common.cuh (after the rendered wgmma MMAs) or merge_states.cu.
  const std::string from = "// ---- templates/cuda/ptx.cuh\n", to = "// ---- templates/cuda/";
  const size_t a = source.find(from), b = a == std::string::npos ? a : source.find(to, a + from.size());
  if (a == std::string::npos || b == std::string::npos || b < a) {
    log = "fake nvrtc: the source has no templates/cuda/ptx.cuh part to replace for the host\n";
    return "";
  }
  std::string host = "#include \"tests/cuda_host/device_host.hpp\"\n" + source.substr(0, a) +
                     "#include \"tests/cuda_host/ptx_host.hpp\"\n" + source.substr(b) +
                     "#include \"tests/cuda_host/entries_host.hpp\"\n";
  if (std::regex_search(host, std::regex(R"(\basm\b)"))) {
    log = "fake nvrtc: inline PTX outside templates/cuda/ptx.cuh: the host build cannot run it\n";
    return "";
  }
  std::string flags = " " FAKE_NVRTC_HOST_FLAGS " -shared";
#ifdef FAKE_NVRTC_PCH_DIR
  flags += " -I" FAKE_NVRTC_PCH_DIR;  // device_host.hpp precompiled (tests/cuda.cmake)
#endif
  flags += " -I" FAKE_NVRTC_SOURCE_DIR;
  for (const auto& [name, value] : defines) flags += " -D" + name + "=" + value;
  char hash[32];
  std::snprintf(hash, sizeof hash, "%016zx", std::hash<std::string>()(host + flags));
  const std::string base = dir + "/" + hash, so = base + ".so";
  const std::lock_guard<std::mutex> lock(host_build_mu);  // the other module waits for this build
  if (access(so.c_str(), R_OK) == 0) return so;
  const std::string tmp = base + "." + std::to_string(getpid()) + "." +
                          std::to_string(std::hash<std::thread::id>()(std::this_thread::get_id()));
  std::ofstream(tmp + ".cpp") << host;
  const std::string lib = FAKE_NVRTC_EMULATOR_LIB, lib_dir = lib.substr(0, lib.rfind('/'));
  int status = 0;
  const std::string out = run_command(std::string(FAKE_NVRTC_HOST_CXX) + flags + " -o " + tmp + ".so " + tmp +
                                          ".cpp " + lib + " -Wl,-rpath," + lib_dir,
                                      status);
  std::remove((tmp + ".cpp").c_str());
  if (status != 0 || std::rename((tmp + ".so").c_str(), so.c_str()) != 0) {
    std::remove((tmp + ".so").c_str());
    log = "fake nvrtc: the host build failed:\n" + out;
    return "";
  }
  return so;
#else
  (void)source, (void)defines, (void)dir;
  log = "fake nvrtc: built without the CUDA emulator (tests/cuda_host)\n";
  return "";
#endif
}

}  // namespace

extern "C" {

int fake_nvrtc_take_max_in_flight(void) {
  std::lock_guard<std::mutex> lock(flight_mu);
  const int most = most_flying;
  most_flying = flying;
  return most;
}

const char* nvrtcGetErrorString(nvrtcResult r) {
  switch (r) {
    case kSuccess: return "NVRTC_SUCCESS";
    case kInvalidInput: return "NVRTC_ERROR_INVALID_INPUT";
    case kInvalidProgram: return "NVRTC_ERROR_INVALID_PROGRAM";
    case kInvalidOption: return "NVRTC_ERROR_INVALID_OPTION";
    case kCompilation: return "NVRTC_ERROR_COMPILATION";
    default: return "NVRTC_ERROR unknown";
  }
}

// 13.99: never a real NVRTC's version, so fake cubins never share cache keys with real ones.
// 13.98 with FAKE_NVRTC_EMULATE, whose cubins run.
nvrtcResult nvrtcVersion(int* major, int* minor) {
  *major = 13, *minor = emulate_dir() ? 98 : 99;
  return kSuccess;
}

nvrtcResult nvrtcCreateProgram(nvrtcProgram* prog, const char* src, const char* name, int num_headers,
                               const char* const*, const char* const*) {
  if (injected("nvrtcCreateProgram")) return kInvalidInput;
  if (!prog || !src || num_headers != 0) return kInvalidInput;
  *prog = reinterpret_cast<nvrtcProgram>(new Program{src, name ? name : "default_program", "", "", "", false});
  return kSuccess;
}

nvrtcResult nvrtcDestroyProgram(nvrtcProgram* prog) {
  if (!prog || !*prog) return kInvalidProgram;
  delete reinterpret_cast<Program*>(*prog);
  *prog = nullptr;
  return kSuccess;
}

nvrtcResult nvrtcCompileProgram(nvrtcProgram handle, int num_options, const char* const* options) {
  Program* p = reinterpret_cast<Program*>(handle);
  if (!p) return kInvalidProgram;
  std::string arch;
  bool verbose = false;
  std::map<std::string, std::string> defines;
  for (int i = 0; i < num_options; ++i) {
    const std::string o = options[i];
    if (o.compare(0, 19, "--gpu-architecture=") == 0) {
      if (!arch.empty()) return p->log = "nvrtc: error: --gpu-architecture given twice\n", kInvalidOption;
      arch = o.substr(19);
    } else if (o == "--ptxas-options=-v") {
      verbose = true;
    } else if (o.compare(0, 2, "-D") == 0 && o.size() > 2) {  // -DNAME or -DNAME=VALUE
      const size_t eq = o.find('=');
      defines[o.substr(2, eq == std::string::npos ? std::string::npos : eq - 2)] =
          eq == std::string::npos ? "1" : o.substr(eq + 1);
    } else if (o != "--std=c++17") {  // the renderer's only other option
      return p->log = "nvrtc: error: unrecognized option '" + o + "'\n", kInvalidOption;
    }
  }
  if (arch.empty()) arch = "compute_75";  // NVRTC's default
  const InFlight in_flight;
  if (const char* ms = std::getenv("FAKE_NVRTC_DELAY_MS")) std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(ms)));
  if (injected("nvrtcCompileProgram")) {
    p->log = p->name + "(1): error: this compile was made to fail (FAKE_NVRTC_FAIL=1)\n\n1 error detected in the compilation of \"" +
             p->name + "\".\n";
    return kCompilation;
  }
  const std::vector<std::string> entries = entries_of(p->source, defines);
  p->cubin = std::string(FAKE_CUBIN_MAGIC) + "arch " + arch + "\n";
  p->ptx = "// fake PTX (tests/fake_cuda)\n.version 9.0\n.target " + arch + "\n";
  for (const std::string& e : entries) {
    p->cubin += "entry " + e + "\n";
    p->ptx += ".visible .entry " + e + "(\n\t.param .align 8 .b8 " + e + "_param_0[]\n)\n{\n\tret;\n}\n";
    if (verbose)
      p->log += "ptxas info    : 0 bytes gmem\nptxas info    : Compiling entry function '" + e + "' for '" + arch +
                "'\nptxas info    : Function properties for " + e +
                "\nptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n"
                "ptxas info    : Used 96 registers, used 1 barriers, 0 bytes smem, 904 bytes cmem[0]\n";
  }
  char hash[32];
  std::snprintf(hash, sizeof hash, "%016zx", std::hash<std::string>()(p->source));
  p->cubin += std::string("source-hash ") + hash + "\n";
  if (const char* dir = emulate_dir()) {
    const std::string so = build_for_host(p->source, defines, dir, p->log);
    if (so.empty()) return kCompilation;
    p->cubin += "emulator " + so + "\n";
  }
  p->compiled = true;
  return kSuccess;
}

nvrtcResult nvrtcGetProgramLogSize(nvrtcProgram handle, size_t* n) {
  Program* p = reinterpret_cast<Program*>(handle);
  if (!p) return kInvalidProgram;
  *n = p->log.size() + 1;
  return kSuccess;
}

nvrtcResult nvrtcGetProgramLog(nvrtcProgram handle, char* out) {
  Program* p = reinterpret_cast<Program*>(handle);
  if (injected("nvrtcGetProgramLog")) return kInvalidInput;
  if (!p) return kInvalidProgram;
  std::memcpy(out, p->log.c_str(), p->log.size() + 1);
  return kSuccess;
}

// The cubin is text: its size counts the terminating NUL (the fake driver reads to it).
nvrtcResult nvrtcGetCUBINSize(nvrtcProgram handle, size_t* n) {
  Program* p = reinterpret_cast<Program*>(handle);
  if (injected("nvrtcGetCUBINSize")) return kInvalidInput;
  if (!p || !p->compiled || p->cubin.find("arch sm_") == std::string::npos) return kInvalidInput;
  *n = p->cubin.size() + 1;
  return kSuccess;
}

nvrtcResult nvrtcGetCUBIN(nvrtcProgram handle, char* out) {
  Program* p = reinterpret_cast<Program*>(handle);
  if (injected("nvrtcGetCUBIN")) return kInvalidInput;
  if (!p || !p->compiled || p->cubin.find("arch sm_") == std::string::npos) return kInvalidInput;
  std::memcpy(out, p->cubin.c_str(), p->cubin.size() + 1);
  return kSuccess;
}

nvrtcResult nvrtcGetPTXSize(nvrtcProgram handle, size_t* n) {
  Program* p = reinterpret_cast<Program*>(handle);
  if (injected("nvrtcGetPTXSize")) return kInvalidInput;
  if (!p || !p->compiled) return kInvalidInput;
  *n = p->ptx.size() + 1;
  return kSuccess;
}

nvrtcResult nvrtcGetPTX(nvrtcProgram handle, char* out) {
  Program* p = reinterpret_cast<Program*>(handle);
  if (injected("nvrtcGetPTX")) return kInvalidInput;
  if (!p || !p->compiled) return kInvalidInput;
  std::memcpy(out, p->ptx.c_str(), p->ptx.size() + 1);
  return kSuccess;
}

}  // extern "C"
