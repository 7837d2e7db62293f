// How the C ABI turns exceptions into status codes and messages: every entry
// point runs its body through guarded(), which catches everything.
#pragma once

#include <string>

#include "attngen/attngen.h"
#include "runtime/core/error.hpp"

namespace attngen::capi {

// An error whose status the C layer decides (null pointers, handles, ...).
class ApiError : public Error {
 public:
  ApiError(attngen_status status, const std::string& message) : Error(message), status_(status) {}
  attngen_status status() const { return status_; }
  std::unique_ptr<const Error> clone() const override {
    return std::make_unique<ApiError>(status_, std::string(what()));
  }
  [[noreturn]] void raise() const override { throw ApiError(status_, std::string(what())); }

 private:
  attngen_status status_;
};

// Records `message` as this thread's last error and returns `status`.
attngen_status fail(attngen_status status, const std::string& message);

// Classifies the exception in flight (call only inside a catch block).
attngen_status fail_current(attngen_status fallback) noexcept;

// Runs `body`; an attngen::Error not otherwise classified becomes `fallback`.
template <class Body>
attngen_status guarded(attngen_status fallback, Body&& body) noexcept {
  try {
    body();
    return ATTNGEN_OK;
  } catch (...) {
    return fail_current(fallback);
  }
}

}  // namespace attngen::capi
