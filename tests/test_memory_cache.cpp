// The memory cache's failed builds: every waiter of one failed compile gets
// an exception of the builder's type and message but an object of its own
// (one object shared across threads is freed through reference counts that
// ThreadSanitizer cannot see), and each error type copies itself with its
// type and fields (Error::clone, Error::raise).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <set>
#include <thread>
#include <typeinfo>
#include <vector>

#include "codegen/spec/spec.hpp"
#include "runtime/api/status.hpp"
#include "runtime/cache/kernel_cache.hpp"
#include "runtime/cache/memory_cache.hpp"
#include "runtime/io/atomic_file.hpp"

namespace attngen {
namespace {

// What each of `threads` concurrent get_or_build calls of one key caught,
// while `build` (slow, so that the others wait on it) throws.
struct Caught {
  std::vector<std::exception_ptr> kept;  // holds each object alive, so that no two share an address by reuse
  std::vector<const void*> objects;
  std::vector<std::string> messages, types;
  int builds = 0;
};

template <class Throw>
Caught build_failing_in_parallel(int threads, Throw throw_it) {
  MemoryCache cache(4);
  std::atomic<int> builds{0};
  Caught caught;
  caught.kept.resize(size_t(threads));
  caught.objects.resize(size_t(threads));
  caught.messages.resize(size_t(threads));
  caught.types.resize(size_t(threads));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      try {
        cache.get_or_build("key", [&]() -> MemoryCache::KernelPtr {
          ++builds;
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          throw_it();
          return nullptr;
        });
      } catch (const std::exception& e) {
        caught.kept[size_t(t)] = std::current_exception();
        caught.objects[size_t(t)] = &e;
        caught.messages[size_t(t)] = e.what();
        caught.types[size_t(t)] = typeid(e).name();
      }
    });
  for (auto& t : pool) t.join();
  caught.builds = builds;
  EXPECT_EQ(cache.size(), 0u) << "a failed build is not cached";
  return caught;
}

void expect_every_thread_has_its_own(const Caught& c, const std::type_info& type, const std::string& message) {
  EXPECT_LT(c.builds, int(c.objects.size())) << "no thread waited on another's build: the test proves nothing";
  for (size_t t = 0; t < c.objects.size(); ++t) {
    EXPECT_EQ(c.types[t], type.name()) << "thread " << t;
    EXPECT_EQ(c.messages[t], message) << "thread " << t;
  }
  EXPECT_EQ(std::set<const void*>(c.objects.begin(), c.objects.end()).size(), c.objects.size())
      << "two threads caught one exception object";
}

TEST(MemoryCacheFailure, EveryWaiterThrowsItsOwnCopyOfTheBuildersError) {
  const Caught c = build_failing_in_parallel(6, [] { throw SpecError({"$.head_dim: expected 1..256, got 0", "$.x: unknown"}); });
  expect_every_thread_has_its_own(c, typeid(SpecError), "$.head_dim: expected 1..256, got 0\n$.x: unknown");
}

TEST(MemoryCacheFailure, KeepsTheTypeOfEachErrorKind) {
  const Caught backend = build_failing_in_parallel(4, [] { throw BackendError("cuda: no driver"); });
  expect_every_thread_has_its_own(backend, typeid(BackendError), "cuda: no driver");
  const Caught jit = build_failing_in_parallel(4, [] { throw JitDisabledError("jit off"); });
  expect_every_thread_has_its_own(jit, typeid(JitDisabledError), "jit off");
  const Caught plain = build_failing_in_parallel(4, [] { throw Error("plain"); });
  expect_every_thread_has_its_own(plain, typeid(Error), "plain");
}

TEST(MemoryCacheFailure, OtherExceptionsReachWaitersAsTheirStatusExpectsThem) {
  // The C ABI maps bad_alloc to out of memory and any other std::exception to
  // an internal error with its what(): waiters get exactly that much.
  const Caught oom = build_failing_in_parallel(4, [] { throw std::bad_alloc(); });
  EXPECT_LT(oom.builds, 4);
  for (const std::string& type : oom.types) EXPECT_EQ(type, typeid(std::bad_alloc).name());
  const Caught other = build_failing_in_parallel(4, [] { throw std::invalid_argument("bad thing"); });
  EXPECT_LT(other.builds, 4);
  for (const std::string& m : other.messages) EXPECT_EQ(m, "bad thing");
  EXPECT_EQ(std::set<const void*>(other.objects.begin(), other.objects.end()).size(), 4u);
}

TEST(MemoryCacheFailure, TheNextRequestAfterAFailureBuildsAgain) {
  MemoryCache cache(4);
  EXPECT_THROW(cache.get_or_build("k", []() -> MemoryCache::KernelPtr { throw BackendError("once"); }), BackendError);
  bool built = false;
  int calls = 0;
  EXPECT_EQ(cache.get_or_build("k", [&]() -> MemoryCache::KernelPtr { ++calls; return nullptr; }, &built), nullptr);
  EXPECT_TRUE(built);
  EXPECT_EQ(calls, 1);
}

// clone() and raise() of each error type: same type, message and fields, and
// a message buffer of its own.
template <class E>
void expect_copies_keep_type(const E& e) {
  const std::unique_ptr<const Error> copy = e.clone();
  const Error& copied = *copy;
  EXPECT_EQ(typeid(copied), typeid(E));
  EXPECT_STREQ(copy->what(), e.what());
  EXPECT_NE(static_cast<const void*>(copy->what()), static_cast<const void*>(e.what()));
  try {
    copy->raise();
  } catch (const Error& raised) {
    EXPECT_EQ(typeid(raised), typeid(E));
    EXPECT_STREQ(raised.what(), e.what());
    EXPECT_NE(static_cast<const void*>(raised.what()), static_cast<const void*>(copy->what()));
    return;
  }
  ADD_FAILURE() << "raise() threw nothing that is an Error";
}

TEST(ErrorCopies, EveryErrorTypeCopiesItselfWithItsTypeAndFields) {
  expect_copies_keep_type(Error("e"));
  expect_copies_keep_type(ArgumentError("argument"));
  expect_copies_keep_type(BackendError("backend"));
  expect_copies_keep_type(JitDisabledError("jit"));
  expect_copies_keep_type(FileTooLarge("large"));
  expect_copies_keep_type(SpecError({"one", "two"}));
  expect_copies_keep_type(capi::ApiError(ATTNGEN_ERR_INVALID_ARGUMENT, "api"));

  const SpecError spec({"one", "two"});
  EXPECT_EQ(dynamic_cast<const SpecError&>(*spec.clone()).problems(), spec.problems());
  const capi::ApiError api(ATTNGEN_ERR_INVALID_ARGUMENT, "api");
  EXPECT_EQ(dynamic_cast<const capi::ApiError&>(*api.clone()).status(), ATTNGEN_ERR_INVALID_ARGUMENT);
}

}  // namespace
}  // namespace attngen
