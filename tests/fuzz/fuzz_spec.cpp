// Fuzz target: the spec parser and validator (parse_spec). Any input is a
// Spec or a SpecError, never a crash, a hang or another exception; an error
// message holds no raw control bytes or ill-formed UTF-8 (docs/errors.md:
// echoed input is escaped); a valid spec's canonical form parses back to
// itself with the same cache key.
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <string>

#include "codegen/spec/spec.hpp"
#include "tests/fuzz/fuzz_checks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace attngen;
  const std::string text(reinterpret_cast<const char*>(data), size);
  Spec spec;
  try {
    spec = parse_spec(text);
  } catch (const SpecError& e) {
    fuzz::check_message(e.what());
    return 0;
  }
  const std::string canonical = canonical_json(spec);
  Spec again;
  try {
    again = parse_spec(canonical);
  } catch (const SpecError& e) {
    fuzz::fail("the canonical form of a valid spec does not parse", canonical + "\n" + e.what());
  }
  if (canonical_json(again) != canonical) fuzz::fail("canonical form not stable", canonical);
  if (cache_key(again, "x86", "avx2") != cache_key(spec, "x86", "avx2")) fuzz::fail("cache key not stable", canonical);
  canonical_json(spec, /*pretty=*/true);
  return 0;
}
