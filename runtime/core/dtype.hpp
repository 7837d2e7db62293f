// Element types of tensors that cross attngen's boundary, and their names.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace attngen {

// Storage types. f32/f16/bf16 are the spec's `dtype`; the rest appear only in
// run-time mask tensors (lengths, document ids, boolean masks).
enum class ElemType : uint8_t { f32, f16, bf16, i32, u8, b8 };

inline size_t elem_size(ElemType t) {
  switch (t) {
    case ElemType::f32:
    case ElemType::i32: return 4;
    case ElemType::f16:
    case ElemType::bf16: return 2;
    case ElemType::u8:
    case ElemType::b8: return 1;
  }
  return 0;
}

inline const char* elem_name(ElemType t) {
  switch (t) {
    case ElemType::f32: return "f32";
    case ElemType::f16: return "f16";
    case ElemType::bf16: return "bf16";
    case ElemType::i32: return "i32";
    case ElemType::u8: return "u8";
    case ElemType::b8: return "bool";
  }
  return "?";
}

inline bool is_float_storage(ElemType t) {
  return t == ElemType::f32 || t == ElemType::f16 || t == ElemType::bf16;
}

// Parses the spec's dtype names (f32 | f16 | bf16); nullopt otherwise.
inline std::optional<ElemType> parse_storage_dtype(std::string_view s) {
  if (s == "f32") return ElemType::f32;
  if (s == "f16") return ElemType::f16;
  if (s == "bf16") return ElemType::bf16;
  return std::nullopt;
}

}  // namespace attngen
