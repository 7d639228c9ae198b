// Online distillation prefills a step's windows as one batch [B, S]: the CaptureHook's G and
// pooled Q/K of the batched prefill equal those of each window prefilled alone (chunked, odd S,
// GQA), whether the hook copies each layer to the host or keeps it on the device in float16.
#include "catch.h"

#include "core/gate/capture_hook.h"
#include "core/model/random_decoder.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>

using namespace seer;

namespace {

core::ModelConfig tiny_shape() {
  core::ModelConfig shape;
  shape.vocab_size = 64;
  shape.hidden_size = 32;
  shape.intermediate_size = 48;
  shape.num_hidden_layers = 3;
  shape.num_attention_heads = 4;
  shape.num_key_value_heads = 2;
  shape.head_dim = 8;
  shape.max_position_embeddings = 512;
  return shape;
}

}  // namespace

TEST_CASE("a batched prefill captures what single-window prefills capture", "[gates][capture]") {
  const int64_t S = GENERATE(48, 72);     // whole blocks, and a partial last block
  const int64_t B = GENERATE(2, 3);
  const bool to_host = GENERATE(true, false);
  CAPTURE(S, B, to_host);
  auto model = core::random_decoder(tiny_shape(), at::kFloat, at::kCPU, 11);
  // Sharper attention than N(0, 0.02) weights give, so G is not flat.
  for (const auto& l : model.weights().layers) {
    l.q_proj.mul_(20.0);
    l.k_proj.mul_(20.0);
  }
  core::CaptureOptions opts;
  opts.block = 16;
  opts.layers = {0, 2};
  opts.to_host = to_host;
  if (!to_host) {
    opts.g_dtype = at::kHalf;
    opts.pooled_dtype = at::kHalf;
  }
  core::CaptureHook hook(opts);
  model.set_attention_hook(&hook);
  at::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(S + B);
  auto tokens = at::randint(64, {B, S}, gen, at::kLong);
  auto cache = model.new_cache();
  model.prefill(tokens, cache, /*chunk_size=*/32);
  auto batched = hook.take();
  REQUIRE(batched.size() == 2);
  const double tol = to_host ? 1e-5 : 2e-3;
  for (int64_t b = 0; b < B; ++b) {
    auto one_cache = model.new_cache();
    model.prefill(tokens.narrow(0, b, 1), one_cache, 32);
    auto alone = hook.take();
    for (int64_t layer : {0, 2}) {
      CAPTURE(b, layer);
      const auto& x = batched.at(layer);
      const auto& y = alone.at(layer);
      CHECK(x.g.scalar_type() == opts.g_dtype);
      CHECK(x.g.sizes() == at::IntArrayRef({B, 4, (S + 15) / 16, (S + 15) / 16}));
      auto diff = [&](const at::Tensor& a, const at::Tensor& c) {
        return (a.narrow(0, b, 1).to(at::kDouble) - c.to(at::kDouble)).abs().max().item<double>();
      };
      CHECK(diff(x.g, y.g) < tol);
      CHECK(diff(x.q_pooled, y.q_pooled) < tol * 10);
      CHECK(diff(x.k_pooled, y.k_pooled) < tol * 10);
      CHECK(y.g.sum(-1).min().item<double>() > 0.99);   // every row a distribution
    }
  }
  model.set_attention_hook(nullptr);
}
