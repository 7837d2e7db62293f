// what() of the attngen::Error thrown by a callable, for tests that check
// messages; "<no error>" when it throws none.
#pragma once

#include <string>

#include "runtime/core/error.hpp"

namespace attngen::testing {

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace attngen::testing
