// A fake libnvrtc for tests (tests/fake_cuda/fake_cuda.h): the functions
// runtime/cuda/nvrtc_library.cpp resolves. A compile checks the options the
// way NVRTC does for what attngen passes (one --gpu-architecture; unknown
// options are refused), finds the extern "C" __global__ entry points in the
// source and returns a fake cubin naming them, a PTX stub and, with
// --ptxas-options=-v, a ptxas report in NVRTC's log format.
// FAKE_NVRTC_FAIL=1 fails the compile with an error log, =nvrtcGetCUBIN,...
// fails those calls; FAKE_NVRTC_DELAY_MS=N makes a compile take N ms.
#include <algorithm>
#include <chrono>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

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

// Names of the `extern "C" __global__ void [__launch_bounds__(...)] NAME(` in
// `source`, NAME expanded through object-like #defines (the renderer's AG_ENTRY).
std::vector<std::string> entries_of(const std::string& source) {
  std::map<std::string, std::string> defines;
  for (size_t at = source.find("#define "); at != std::string::npos; at = source.find("#define ", at + 1)) {
    size_t a = at + 8, b = a;
    while (b < source.size() && ident_char(source[b])) ++b;
    if (b >= source.size() || source[b] != ' ') continue;  // a function-like macro
    size_t c = b + 1, d = c;
    while (d < source.size() && ident_char(source[d])) ++d;
    defines[source.substr(a, b - a)] = source.substr(c, d - c);
  }
  std::vector<std::string> names;
  const std::string head = "extern \"C\" __global__ void ";
  for (size_t at = source.find(head); at != std::string::npos; at = source.find(head, at + 1)) {
    size_t start = at + head.size();
    if (source.compare(start, 18, "__launch_bounds__(") == 0) {
      start = source.find(')', start);
      if (start == std::string::npos) break;
      start += 2;  // ") "
    }
    size_t end = start;
    while (end < source.size() && ident_char(source[end])) ++end;
    std::string name = source.substr(start, end - start);
    for (int i = 0; i < 8 && defines.count(name); ++i) name = defines[name];
    if (!name.empty() && std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  return names;
}

}  // namespace

extern "C" {

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
nvrtcResult nvrtcVersion(int* major, int* minor) {
  *major = 13, *minor = 99;
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
  for (int i = 0; i < num_options; ++i) {
    const std::string o = options[i];
    if (o.compare(0, 19, "--gpu-architecture=") == 0) {
      if (!arch.empty()) return p->log = "nvrtc: error: --gpu-architecture given twice\n", kInvalidOption;
      arch = o.substr(19);
    } else if (o == "--ptxas-options=-v") {
      verbose = true;
    } else if (o != "--std=c++17") {  // the renderer's only other option
      return p->log = "nvrtc: error: unrecognized option '" + o + "'\n", kInvalidOption;
    }
  }
  if (arch.empty()) arch = "compute_75";  // NVRTC's default
  if (const char* ms = std::getenv("FAKE_NVRTC_DELAY_MS")) std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(ms)));
  if (injected("nvrtcCompileProgram")) {
    p->log = p->name + "(1): error: this compile was made to fail (FAKE_NVRTC_FAIL=1)\n\n1 error detected in the compilation of \"" +
             p->name + "\".\n";
    return kCompilation;
  }
  const std::vector<std::string> entries = entries_of(p->source);
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
