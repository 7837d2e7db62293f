#include "runtime/llvm/loaded_object.hpp"

#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/Support/Error.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>

#include <mutex>

#include "runtime/core/error.hpp"

namespace attngen::llvmgen {
namespace {

std::string message(llvm::Error e) { return llvm::toString(std::move(e)); }

}  // namespace

struct LoadedObject::Impl {
  std::unique_ptr<llvm::orc::LLJIT> jit;
};

LoadedObject::LoadedObject(const std::vector<uint8_t>& object) : impl_(std::make_unique<Impl>()) {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
  auto jit = llvm::orc::LLJITBuilder().create();
  if (!jit) throw Error("llvm: cannot start the JIT linker: " + message(jit.takeError()));
  impl_->jit = std::move(*jit);
  auto process = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      impl_->jit->getDataLayout().getGlobalPrefix());
  if (!process) throw Error("llvm: cannot resolve symbols of this process: " + message(process.takeError()));
  impl_->jit->getMainJITDylib().addGenerator(std::move(*process));
  llvm::StringRef bytes(reinterpret_cast<const char*>(object.data()), object.size());
  if (llvm::Error e = impl_->jit->addObjectFile(llvm::MemoryBuffer::getMemBufferCopy(bytes, "attngen_kernel.o")))
    throw Error("llvm: cannot link the kernel object: " + message(std::move(e)));
}

LoadedObject::~LoadedObject() = default;

void* LoadedObject::function(const std::string& name) const {
  auto addr = impl_->jit->lookup(name);
  if (!addr) throw Error("llvm: the kernel object has no function '" + name + "': " + message(addr.takeError()));
  return addr->toPtr<void*>();
}

}  // namespace attngen::llvmgen
