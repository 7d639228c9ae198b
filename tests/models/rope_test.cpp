// Rotary embedding: partial rotary keeps the tail channels and rotates the head exactly like a
// full rotary of dim d; cos/sin equal a float64 evaluation of the same inverse frequencies; YaRN
// scales cos/sin by its attention factor. (Each kind's frequencies are checked end to end against
// transformers by decoder_test.)
#include "catch.h"

#include "core/model/rope.h"

#include <ATen/ATen.h>

#include <cmath>

using seer::core::RopeConfig;
using seer::core::RopeKind;
using seer::core::RotaryEmbedding;

TEST_CASE("partial rotary rotates the first d channels and keeps the rest", "[models][rope]") {
  const int64_t D = GENERATE(16, 64);
  const int64_t d = GENERATE(2, 8, 16);
  CAPTURE(D, d);
  RopeConfig rope;
  rope.theta = 10000.0;
  RotaryEmbedding partial(rope, d, 128);
  at::Tensor x = at::randn({2, 7, 3, D});
  at::Tensor pos = at::arange(5, 12, at::kLong);
  at::Tensor y = partial.apply(x, pos);
  CHECK(y.narrow(3, d, D - d).equal(x.narrow(3, d, D - d)));
  at::Tensor head = x.narrow(3, 0, d).contiguous();
  CHECK(at::allclose(y.narrow(3, 0, d), partial.apply(head, pos)));
  // Rotation preserves the norm of each (i, i + d/2) pair.
  CHECK(at::allclose(y.narrow(3, 0, d).norm(2, -1), head.norm(2, -1), 1e-5, 1e-5));
}

TEST_CASE("cos/sin equal a float64 evaluation of the frequencies", "[models][rope]") {
  const auto kind = GENERATE(RopeKind::kDefault, RopeKind::kLinear, RopeKind::kLlama3, RopeKind::kYarn);
  CAPTURE(seer::core::to_string(kind));
  RopeConfig rope;
  rope.kind = kind;
  rope.theta = 50000.0;
  rope.factor = 4.0;
  rope.original_max_position_embeddings = 256;
  const int64_t d = 32;
  RotaryEmbedding emb(rope, d, 1024);
  const seer::core::RopeFrequencies f = seer::core::rope_frequencies(rope, d, 1024);
  at::Tensor pos = at::randint(0, 1024, {37}, at::kLong);
  auto [cos, sin] = emb.cos_sin(pos, at::kFloat);
  at::Tensor ang = pos.to(at::kDouble).unsqueeze(1) * f.inv_freq.to(at::kDouble).unsqueeze(0);
  ang = at::cat({ang, ang}, 1);
  // float32 angle rounding at position ~1000 is ~1e-4 rad
  CHECK(at::allclose(cos.to(at::kDouble), ang.cos() * f.attention_scaling, 0, 5e-4));
  CHECK(at::allclose(sin.to(at::kDouble), ang.sin() * f.attention_scaling, 0, 5e-4));
  if (kind == RopeKind::kYarn) {
    CHECK(std::abs(f.attention_scaling - (0.1 * std::log(4.0) + 1.0)) < 1e-12);
  } else {
    CHECK(f.attention_scaling == 1.0);
  }
  if (kind == RopeKind::kLinear) {
    RopeConfig plain;
    plain.theta = rope.theta;
    CHECK(at::allclose(f.inv_freq * 4.0, seer::core::rope_frequencies(plain, d, 1024).inv_freq));
  }
}

TEST_CASE("dynamic NTK: a grown base serves only its own call", "[models][rope]") {
  // cos_sin keeps the base frequencies on the positions' device after the first call; a call that
  // reaches past max_position_embeddings computes a grown base for itself and must not replace
  // what later calls within range use.
  RopeConfig rope;
  rope.kind = RopeKind::kDynamic;
  rope.theta = 10000.0;
  rope.factor = 2.0;
  const int64_t d = 16, max_pos = 64;
  RotaryEmbedding emb(rope, d, max_pos);
  const at::Tensor near = at::arange(0, 40, at::kLong);
  const at::Tensor far = at::arange(0, 200, at::kLong);
  const auto first = emb.cos_sin(near, at::kFloat);
  const auto grown = emb.cos_sin(far, at::kFloat);
  const auto again = emb.cos_sin(near, at::kFloat);
  CHECK(at::equal(first.first, again.first));
  CHECK(at::equal(first.second, again.second));
  // The grown base rotates more slowly: position 39's angles differ from the base ones.
  CHECK_FALSE(at::allclose(grown.first.narrow(0, 0, 40), first.first, 0, 1e-4));
  const seer::core::RopeFrequencies base = seer::core::rope_frequencies(rope, d, max_pos);
  at::Tensor ang = near.to(at::kDouble).unsqueeze(1) * base.inv_freq.to(at::kDouble).unsqueeze(0);
  ang = at::cat({ang, ang}, 1);
  CHECK(at::allclose(again.first.to(at::kDouble), ang.cos(), 0, 1e-5));
}
