// The x86 JIT backend (Xbyak; AVX2+FMA+F16C code, selected at run time).
#pragma once

#include "runtime/core/backend.hpp"

namespace attngen {

const Backend& x86_backend();

}  // namespace attngen
