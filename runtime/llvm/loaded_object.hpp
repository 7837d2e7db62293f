// A relocatable object (codegen/llvm) linked into this process by LLVM's ORC
// JIT: its functions become callable, its memory is never writable and
// executable at once, and it is unmapped when the LoadedObject goes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace attngen::llvmgen {

class LoadedObject {
 public:
  // Links `object`; symbols it leaves undefined (memset, memcpy) resolve
  // against this process. Throws Error when the object cannot be linked.
  explicit LoadedObject(const std::vector<uint8_t>& object);
  ~LoadedObject();
  LoadedObject(const LoadedObject&) = delete;
  LoadedObject& operator=(const LoadedObject&) = delete;

  // The address of the C function `name`; throws Error when absent.
  void* function(const std::string& name) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace attngen::llvmgen
