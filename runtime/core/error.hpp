// The one exception type attngen throws internally. Every message names what
// was wrong (a JSON path, a tensor, a file), what was expected and what came.
// Public entry points (CLI, C ABI) catch it; nothing aborts the host process.
#pragma once

#include <stdexcept>
#include <string>

namespace attngen {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A call's argument that only the backend can judge (a CUDA pointer the driver
// does not know): ATTNGEN_ERR_INVALID_ARGUMENT at the C ABI, like bind_args' errors.
class ArgumentError : public Error {
 public:
  using Error::Error;
};

}  // namespace attngen
