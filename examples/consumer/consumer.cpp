// Uses an installed attngen through <attngen/attngen.hpp>: compiles one spec,
// runs it on a padded batch, and checks the result against the reference
// backend. Exit status 0 when it matches.
#include <attngen/attngen.hpp>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

int main() {
  namespace ag = attngen::api;
  const char* spec = R"({"dtype": "f32", "head_dim": 64, "num_heads": 8, "num_kv_heads": 2,
                         "mask": [{"type": "padding"}, {"type": "causal", "align": "bottom_right"}],
                         "return_lse": true})";
  const int64_t B = 2, H = 8, Hkv = 2, Sq = 16, Skv = 40, D = 64;
  std::vector<float> q(B * H * Sq * D), k(B * Hkv * Skv * D), v(B * Hkv * Skv * D);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  for (auto* t : {&q, &k, &v})
    for (float& x : *t) x = normal(rng);
  std::vector<int32_t> kv_lens = {40, 23};  // entry 1 is padded
  std::vector<float> o(B * H * Sq * D), lse(B * H * Sq), o_ref(o.size()), lse_ref(lse.size());

  try {
    ag::Kernel kernel = ag::Kernel::compile(spec);  // backend "auto"; cached per process
    ag::Kernel reference = ag::Kernel::compile(spec, "reference");
    std::printf("attngen %s: kernel %s on %s (%s)\n", ag::version().c_str(), kernel.key().c_str(),
                kernel.backend().c_str(), kernel.isa().c_str());

    attngen_args a{};  // absent tensors stay zero
    a.q = ag::tensor(q.data(), ATTNGEN_F32, {B, H, Sq, D});
    a.k = ag::tensor(k.data(), ATTNGEN_F32, {B, Hkv, Skv, D});
    a.v = ag::tensor(v.data(), ATTNGEN_F32, {B, Hkv, Skv, D});
    a.o = ag::tensor(o.data(), ATTNGEN_F32, {B, H, Sq, D});
    a.lse = ag::tensor(lse.data(), ATTNGEN_F32, {B, H, Sq});
    a.kv_lens = ag::tensor(kv_lens.data(), ATTNGEN_I32, {B});
    kernel.run(a);

    a.o = ag::tensor(o_ref.data(), ATTNGEN_F32, {B, H, Sq, D});
    a.lse = ag::tensor(lse_ref.data(), ATTNGEN_F32, {B, H, Sq});
    reference.run(a);

    double err = 0, norm = 0;
    for (size_t i = 0; i < o.size(); ++i) err += (o[i] - o_ref[i]) * (o[i] - o_ref[i]), norm += o_ref[i] * o_ref[i];
    const double rel = std::sqrt(err / norm);
    std::printf("rel_err vs reference: %.3g\n", rel);

    // Errors are exceptions carrying the library's message.
    a.kv_lens = attngen_tensor{};
    try {
      kernel.run(a);
    } catch (const ag::Error& e) {
      std::printf("expected error: %s\n", e.what());
    }
    return rel < 2e-5 ? 0 : 1;
  } catch (const ag::Error& e) {
    std::fprintf(stderr, "consumer: %s\n", e.what());
    return 1;
  }
}
