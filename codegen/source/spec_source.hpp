// Source text shared by the emitters that render C-family kernels (CUDA via
// NVRTC, CPUs via clang/LLVM): exact literals, the dtype's macro, and the
// spec's index masks as `allowed_keys`, one key interval per query row (the AND of the masks, the
// same interval as allowed_interval() in codegen/spec/semantics.hpp).
#pragma once

#include <string>

#include "codegen/spec/spec.hpp"

namespace attngen::source {

// Literals that a C++ compiler reads back to exactly `v` (hexadecimal).
std::string float_literal(float v);
std::string double_literal(double v);

// "AG_DTYPE_F32", "AG_DTYPE_F16" or "AG_DTYPE_BF16": the templates' AG_DTYPE.
const char* dtype_macro(ElemType t);

// The spec as the templates' compile-time constants: AG_DTYPE (and the
// AG_DTYPE_* values), AG_NUM_HEADS, AG_GROUP, AG_HEAD_DIM, AG_HEAD_DIM_V,
// AG_SCALE, AG_HAS_ALIBI, AG_HAS_DOCUMENT, AG_HAS_CUSTOM_BOOL,
// AG_HAS_CUSTOM_ADDITIVE, AG_HAS_DATA_MASK (document or boolean custom) and
// AG_RETURN_LSE, one #define a line.
std::string render_spec_constants(const Spec& spec);

// AgRowCtx (this entry's Sq, Skv and prefix), ag_floor_div, ag_static_prefix
// and `void allowed_keys(ag_i64 i, const AgRowCtx& c, ag_i64& lo, ag_i64& hi)`,
// each declared with `qualifier` (e.g. "__device__ __forceinline__" or
// "static inline"). Needs `ag_i64` defined (templates/common/attention_params.h).
std::string render_row_masks(const Spec& spec, const std::string& qualifier);

}  // namespace attngen::source
