// Sets an environment variable for a scope, restoring the old value (or its
// absence) at the end.
#pragma once

#include <cstdlib>
#include <string>

namespace attngen::testing {

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) had_ = true, old_ = old;
    set(value);
  }
  ~ScopedEnv() {
    if (had_)
      ::setenv(name_, old_.c_str(), 1);
    else
      ::unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

  // Another value within the scope.
  void set(const std::string& value) const { ::setenv(name_, value.c_str(), 1); }
  void unset() const { ::unsetenv(name_); }

 private:
  const char* name_;
  bool had_ = false;
  std::string old_;
};

}  // namespace attngen::testing
