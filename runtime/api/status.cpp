#include "runtime/api/status.hpp"

#include <new>

#include "codegen/spec/spec.hpp"
#include "runtime/cache/kernel_cache.hpp"

namespace attngen::capi {
namespace {

thread_local std::string last_error;

}  // namespace

attngen_status fail(attngen_status status, const std::string& message) {
  try {
    last_error = message;
  } catch (...) {
    // Out of memory for the message itself: the status still says what happened.
  }
  return status;
}

attngen_status fail_current(attngen_status fallback) noexcept {
  try {
    throw;
  } catch (const ApiError& e) {
    return fail(e.status(), e.what());
  } catch (const SpecError& e) {
    return fail(ATTNGEN_ERR_INVALID_SPEC, e.what());
  } catch (const BackendError& e) {
    return fail(ATTNGEN_ERR_BACKEND, e.what());
  } catch (const JitDisabledError& e) {
    return fail(ATTNGEN_ERR_JIT_DISABLED, e.what());
  } catch (const ArgumentError& e) {
    return fail(ATTNGEN_ERR_INVALID_ARGUMENT, e.what());
  } catch (const Error& e) {
    return fail(fallback, e.what());
  } catch (const std::bad_alloc&) {
    return fail(ATTNGEN_ERR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(ATTNGEN_ERR_INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return fail(ATTNGEN_ERR_INTERNAL, "internal error: unknown exception");
  }
}

}  // namespace attngen::capi

extern "C" const char* attngen_last_error(void) { return attngen::capi::last_error.c_str(); }
