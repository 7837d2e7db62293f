// Base of every generated x86 kernel: one class per kernel, a generate()
// that emits it, an auto-growing buffer that is writable while emitting and
// read+execute afterwards (never both: W^X through readyRE()). ATTNGEN_DUMP
// is handled by the kernel cache (X86Kernel::code_blobs, runtime/cache/dump).
#pragma once

#include <string>
#include <xbyak/xbyak.h>

namespace attngen::x86 {

class JitGenerator : public Xbyak::CodeGenerator {
 public:
  explicit JitGenerator(const char* name) : Xbyak::CodeGenerator(4096, Xbyak::AutoGrow), name_(name) {}
  const char* name() const { return name_; }

 protected:
  // Emits the code and seals it read+execute. Call once from the
  // derived constructor after its members are set; throws attngen::Error.
  void finish_generation();
  virtual void generate() = 0;

  // System V: callee-saved registers the kernels use.
  void preamble();
  void postamble();

 private:
  const char* name_;
};

// The entry point of a finished kernel.
template <class Fn>
Fn entry(const JitGenerator& g) {
  return reinterpret_cast<Fn>(const_cast<Xbyak::uint8*>(g.getCode()));
}

}  // namespace attngen::x86

#include <functional>

namespace attngen::x86 {

// Emits `body(mr)` for full microtiles of `mr_max` rows while `rows` >= mr_max
// (calling `advance(mr)` after each), then one tail of rows % mr_max rows.
// `rows` is decremented in place.
void emit_row_loop(Xbyak::CodeGenerator& g, const Xbyak::Reg64& rows, int mr_max,
                   const std::function<void(int)>& body, const std::function<void(int)>& advance);

}  // namespace attngen::x86
