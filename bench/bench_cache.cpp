// What a kernel cache hit costs (docs/perf.md): the in-process lookup by key,
// the lookup by spec text (parse skipped), the public C API's compile call on
// a cached spec, and, for scale, a miss (parse + canonical form + hash).
#include <benchmark/benchmark.h>

#include <attngen/attngen.h>

#include "codegen/spec/spec.hpp"
#include "runtime/cache/kernel_cache.hpp"
#include "runtime/reference/reference.hpp"

namespace {

using namespace attngen;

const char* kSpec =
    R"({"dtype": "bf16", "head_dim": 128, "num_heads": 20, "num_kv_heads": 5,
        "mask": [{"type": "padding"}, {"type": "causal", "align": "bottom_right"}]})";

KernelCache& cache() {
  static KernelCache c(CacheConfig{});  // no disk, quiet
  return c;
}

void BM_MemoryHitByKey(benchmark::State& state) {
  const auto k = cache().get(std::string(kSpec), "reference");
  const std::string key = k->key();
  for (auto _ : state) benchmark::DoNotOptimize(cache().memory().find(key));
}
BENCHMARK(BM_MemoryHitByKey)->ThreadRange(1, 2);

void BM_HitBySpecText(benchmark::State& state) {
  const std::string text = kSpec;
  cache().get(text, "reference");
  for (auto _ : state) benchmark::DoNotOptimize(cache().get(text, "reference"));
}
BENCHMARK(BM_HitBySpecText)->ThreadRange(1, 2);

void BM_HitBySpec(benchmark::State& state) {  // parsed spec: canonical form + hash per lookup
  const Spec spec = parse_spec(kSpec);
  for (auto _ : state) benchmark::DoNotOptimize(cache().get(spec, reference_backend()));
}
BENCHMARK(BM_HitBySpec);

void BM_CApiCompileHit(benchmark::State& state) {  // attngen_kernel_compile + release on a cached spec
  attngen_compile_options o;
  attngen_compile_options_init(&o);
  o.backend = "reference";
  for (auto _ : state) {
    attngen_kernel* k = nullptr;
    attngen_kernel_compile(kSpec, &o, &k);
    attngen_kernel_release(k);
  }
}
BENCHMARK(BM_CApiCompileHit)->ThreadRange(1, 2);

void BM_ParseAndKey(benchmark::State& state) {  // what a hit by text avoids
  for (auto _ : state) benchmark::DoNotOptimize(cache_key(parse_spec(kSpec), "reference", "scalar-f64"));
}
BENCHMARK(BM_ParseAndKey);

}  // namespace

BENCHMARK_MAIN();
