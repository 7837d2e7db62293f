// Linked into every gtest program (tests/CMakeLists.txt): a test process
// whose ctest entry names no ATTNGEN_CACHE_DIR caches kernels under the build
// tree, never in the user's cache (~/.cache/attngen). Set before main(), so
// before any kernel is compiled; tests that need another directory, or none,
// set or unset the variable themselves (ScopedEnv).
#include <cstdlib>

namespace {
const bool kDefaultCacheDir = [] { return ::setenv("ATTNGEN_CACHE_DIR", ATTNGEN_TEST_DEFAULT_CACHE_DIR, 0) == 0; }();
}  // namespace
