// The float64 reference backend (the oracle of every test).
#pragma once

#include "runtime/core/backend.hpp"

namespace attngen {

const Backend& reference_backend();

}  // namespace attngen
