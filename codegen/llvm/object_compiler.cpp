#include "codegen/llvm/object_compiler.hpp"

#include <clang/Basic/DiagnosticOptions.h>
#include <clang/CodeGen/CodeGenAction.h>
#include <clang/Frontend/CompilerInstance.h>
#include <clang/Frontend/CompilerInvocation.h>
#include <clang/Frontend/TextDiagnosticPrinter.h>
#include <clang/Lex/PreprocessorOptions.h>
#include <llvm/ADT/SmallVector.h>
#include <llvm/ADT/StringMap.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Target/TargetOptions.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/TargetParser/Triple.h>

#include <algorithm>
#include <mutex>

#include "runtime/core/error.hpp"

namespace attngen::llvmgen {
namespace {

void initialise_llvm() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeAllTargetInfos();
    llvm::InitializeAllTargets();
    llvm::InitializeAllTargetMCs();
    llvm::InitializeAllAsmPrinters();
  });
}

const llvm::Target& find_target(const std::string& triple) {
  initialise_llvm();
  std::string err;
  const llvm::Target* t = llvm::TargetRegistry::lookupTarget(triple, err);
  if (!t) throw Error("llvm: no code generator for target '" + triple + "': " + err);
  return *t;
}

std::vector<std::string> split_features(const std::string& features) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < features.size()) {
    size_t end = features.find(',', start);
    if (end == std::string::npos) end = features.size();
    if (end > start) out.push_back(features.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

std::string TargetSpec::name() const { return triple + "/" + cpu; }

std::string llvm_version() { return LLVM_VERSION_STRING; }

TargetSpec host_target() {
  TargetSpec t;
  t.triple = llvm::sys::getProcessTriple();
  t.cpu = llvm::sys::getHostCPUName().str();
  // Features as the OS enables them (a VM may hide some of the CPU model's),
  // sorted so that the name is stable.
  llvm::StringMap<bool> features;
  std::vector<std::string> list;
  if (llvm::sys::getHostCPUFeatures(features))
    for (const auto& f : features) {
      std::string flag(1, f.second ? '+' : '-');  // (appended: GCC 12 warns a false -Wrestrict on "+" + string&&)
      list.push_back(flag.append(f.first().data(), f.first().size()));
    }
  std::sort(list.begin(), list.end());
  for (const std::string& f : list) t.features += (t.features.empty() ? "" : ",") + f;
  return t;
}

TargetSpec cross_target(const std::string& triple, const std::string& cpu) {
  const std::string normal = llvm::Triple::normalize(triple);
  find_target(normal);
  TargetSpec t;
  t.triple = normal;
  const llvm::Triple tr(normal);
  t.cpu = !cpu.empty() ? cpu : tr.isAArch64() ? "generic" : "x86-64";
  return t;
}

bool has_feature(const TargetSpec& t, const std::string& feature) {
  for (const std::string& f : split_features(t.features))
    if (f == "+" + feature) return true;
  if (!t.features.empty()) return false;
  // No explicit list: ask the CPU model (cross targets).
  const llvm::Target& target = find_target(t.triple);
  std::unique_ptr<llvm::MCSubtargetInfo> sti(target.createMCSubtargetInfo(t.triple, t.cpu, ""));
  return sti && sti->checkFeatures("+" + feature);
}

int f32_lanes(const TargetSpec& t) {
  const llvm::Triple tr(t.triple);
  if (tr.isX86()) {
    if (has_feature(t, "avx512f")) return 16;
    if (has_feature(t, "avx")) return 8;
  }
  return 4;
}

std::vector<uint8_t> compile_to_object(const std::string& source, const TargetSpec& target) {
  const llvm::Target& llvm_target = find_target(target.triple);

  // Front end: clang's cc1 on an in-memory file, -O3.
  std::string diagnostics;
  llvm::raw_string_ostream diag_stream(diagnostics);
  clang::CompilerInstance ci;
  llvm::IntrusiveRefCntPtr<clang::DiagnosticOptions> diag_options(new clang::DiagnosticOptions);
  ci.createDiagnostics(new clang::TextDiagnosticPrinter(diag_stream, diag_options.get()), true);
  std::vector<std::string> args = {"-triple", target.triple, "-target-cpu", target.cpu, "-O3", "-std=c++17",
                                   "-x", "c++", "-ffreestanding", "-fno-rtti", "-vectorize-loops", "-vectorize-slp",
                                   "-ffp-contract=on", "-mrelocation-model", "pic", "-pic-level", "2",
                                   "-Wall", "attngen_kernel.cpp"};
  for (const std::string& f : split_features(target.features)) {
    args.insert(args.end() - 1, "-target-feature");
    args.insert(args.end() - 1, f);
  }
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  if (!clang::CompilerInvocation::CreateFromArgs(ci.getInvocation(), argv, ci.getDiagnostics()))
    throw Error("llvm: clang refused its arguments: " + diag_stream.str());
  ci.getPreprocessorOpts().addRemappedFile("attngen_kernel.cpp",
                                           llvm::MemoryBuffer::getMemBufferCopy(source, "attngen_kernel.cpp").release());
  ci.getPreprocessorOpts().RetainRemappedFileBuffers = false;
  llvm::LLVMContext context;
  clang::EmitLLVMOnlyAction action(&context);
  if (!ci.ExecuteAction(action) || ci.getDiagnostics().hasErrorOccurred())
    throw Error("llvm: the rendered kernel source did not compile:\n" + diag_stream.str());
  std::unique_ptr<llvm::Module> module = action.takeModule();
  if (!module) throw Error("llvm: clang produced no module:\n" + diag_stream.str());

  // Back end: the object file.
  llvm::TargetOptions options;
  std::unique_ptr<llvm::TargetMachine> tm(llvm_target.createTargetMachine(
      target.triple, target.cpu, target.features, options, llvm::Reloc::PIC_, std::nullopt, llvm::CodeGenOpt::Aggressive));
  if (!tm) throw Error("llvm: no target machine for " + target.name());
  module->setDataLayout(tm->createDataLayout());
  module->setTargetTriple(target.triple);
  llvm::SmallVector<char, 0> object;
  llvm::raw_svector_ostream out(object);
  llvm::legacy::PassManager passes;
  if (tm->addPassesToEmitFile(passes, out, nullptr, llvm::CGFT_ObjectFile))
    throw Error("llvm: " + target.name() + " cannot emit object files");
  passes.run(*module);
  return std::vector<uint8_t>(object.begin(), object.end());
}

}  // namespace attngen::llvmgen
