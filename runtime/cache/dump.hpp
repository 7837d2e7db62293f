// ATTNGEN_DUMP=DIR: what one compile generated, named by its cache key:
// DIR/<key>.spec.json (the canonical spec), DIR/<key>.<blob> for every
// Kernel::code_blobs() entry, and DIR/<key>.<blob>.s, a disassembly of each
// machine-code blob, when objdump is on the PATH. Best effort: a failure to
// dump never fails a compile.
#pragma once

#include <string>

#include "runtime/core/backend.hpp"

namespace attngen {

void dump_kernel(const Kernel& kernel, const std::string& dir);

}  // namespace attngen
