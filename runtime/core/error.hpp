// The one exception type attngen throws internally. Every message names what
// was wrong (a JSON path, a tensor, a file), what was expected and what came.
// Public entry points (CLI, C ABI) catch it; nothing aborts the host process.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

namespace attngen {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;

  // A new error of the same type, message and fields that shares no storage
  // with this one, not even the message's buffer, and a throw of another such
  // copy. Threads that wait on one failed compile each throw their own copy
  // (MemoryCache): one exception object shared by several threads is freed by
  // the last to let go of it, through reference counts that ThreadSanitizer
  // cannot see, so every such free reads as a race.
  virtual std::unique_ptr<const Error> clone() const { return std::make_unique<Error>(std::string(what())); }
  [[noreturn]] virtual void raise() const { throw Error(std::string(what())); }
};

// The base of an error type whose only field is its message: it gives the
// type its own clone() and raise(), so that a copy keeps the type (and so the
// status the C ABI maps it to). Use: class X : public ErrorKind<X> { using ErrorKind::ErrorKind; };
template <class Self, class Base = Error>
class ErrorKind : public Base {
 public:
  using Base::Base;
  std::unique_ptr<const Error> clone() const override { return std::make_unique<Self>(std::string(this->what())); }
  [[noreturn]] void raise() const override { throw Self(std::string(this->what())); }
};

// A call's argument that only the backend can judge (a CUDA pointer the driver
// does not know): ATTNGEN_ERR_INVALID_ARGUMENT at the C ABI, like bind_args' errors.
class ArgumentError : public ErrorKind<ArgumentError> {
 public:
  using ErrorKind::ErrorKind;
};

}  // namespace attngen
