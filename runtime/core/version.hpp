// Versions that enter every cache key: a kernel built by another generator
// version is never reused.
#pragma once

namespace attngen {

constexpr const char* kVersion = "0.1.0";
// Bump whenever generated code or its calling convention changes.
constexpr const char* kGeneratorVersion = "gen-2";

}  // namespace attngen
