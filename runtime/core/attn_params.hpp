// The launch argument of a rendered attention kernel (AttnParams of
// templates/common/attention_params.h), filled from checked arguments: one
// filling for the CUDA kernels (device pointers) and the llvm ones (host).
#pragma once

#include "codegen/spec/spec.hpp"
#include "runtime/core/args.hpp"
#include "templates/common/attention_params.h"

namespace attngen {

// `args` come from bind_args: logical [B, H, S, D] views (bshd strides
// permuted), the custom mask as a 4-D broadcast view, ALiBi slopes as [B, Hq].
// Pointers are copied as they are (device pointers); nothing is read.
// Throws Error for a custom mask dtype the kernels do not read.
AttnParams make_attn_params(const Spec& spec, const BoundArgs& args);

}  // namespace attngen
