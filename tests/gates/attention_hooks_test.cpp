// The hooks on random layer inputs (no model needed): the gated hook with a keep-everything
// policy equals dense attention; chunked prefill (pooled-K cache) gives the same masks and
// outputs as one pass; dense policy defers to the model; the capture hook leaves the output
// dense and records G, pooled Q/K and P exactly as the kernels and the gate compute them.
#include "catch.h"

#include "core/gate/capture_hook.h"
#include "core/gate/gated_attention_hook.h"
#include "kernels/attention.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

using namespace seer;

namespace {

constexpr int64_t kB = 16, kHq = 4, kHkv = 2, kD = 8;

struct Layer {
  at::Tensor q_pre, k_pre, q, k, v;  // whole sequence [B, S, H, D]
};

Layer random_layer(int64_t B, int64_t S, at::Generator& gen) {
  Layer l;
  l.q_pre = at::randn({B, S, kHq, kD}, gen, at::kFloat);
  l.k_pre = at::randn({B, S, kHkv, kD}, gen, at::kFloat);
  l.q = at::randn({B, S, kHq, kD}, gen, at::kFloat);  // "post-RoPE" stand-ins
  l.k = at::randn({B, S, kHkv, kD}, gen, at::kFloat);
  l.v = at::randn({B, S, kHkv, kD}, gen, at::kFloat);
  return l;
}

core::LayerAttentionInput chunk_input(const Layer& l, int64_t layer, int64_t start, int64_t len) {
  core::LayerAttentionInput in;
  in.layer = layer;
  in.q_offset = start;
  in.scale = 1.0 / std::sqrt(double(kD));
  in.q_pre_rope = l.q_pre.narrow(1, start, len);
  in.k_pre_rope = l.k_pre.narrow(1, start, len);
  in.q = l.q.narrow(1, start, len);
  in.k = l.k.narrow(1, 0, start + len);
  in.v = l.v.narrow(1, 0, start + len);
  return in;
}

core::GateSet gates() {
  core::GateConfig c;
  c.block_size = kB;
  c.hidden_size = 8;
  c.init_std = 0.5;
  core::GateRope r;
  return core::GateSet::init(c, {kHq, kHkv, kD}, r, 2, "test");
}

}  // namespace

TEST_CASE("gated hook: keep-all equals dense, chunks equal one pass", "[gates][hook]") {
  const int64_t S = GENERATE(20, 64, 75);
  const int64_t B = GENERATE(1, 2);
  CAPTURE(S, B);
  auto gen = at::detail::createCPUGenerator(S + 100 * B);
  auto l = random_layer(B, S, gen);
  auto g = gates();
  auto dense = kernels::attention(l.q, l.k, l.v).out;

  core::TopkPolicy keep_all(0, 1.0, core::ScoreSource::kGate);
  core::GatedAttentionHook all(&g, &keep_all, kB);
  auto out = all.attend(chunk_input(l, 1, 0, S));
  REQUIRE(out.has_value());
  CHECK((*out - dense).abs().max().item<double>() < 1e-5);
  CHECK(all.stats().overall() == Approx(0.0));

  core::TopkPolicy half(0, 0.5, core::ScoreSource::kGate);
  core::GatedAttentionHook one(&g, &half, kB), chunked(&g, &half, kB);
  one.record_layers({0});
  chunked.record_layers({0});
  auto whole = *one.attend(chunk_input(l, 0, 0, S));
  CHECK_FALSE(whole.isnan().any().item<bool>());
  if (S > 2 * kB) {
    CHECK(one.stats().overall() > 0.1);
    chunked.begin_sequence();
    const int64_t first = 2 * kB;
    auto a = *chunked.attend(chunk_input(l, 0, 0, first));
    auto mask_a = chunked.recorded_mask(0);
    auto b = *chunked.attend(chunk_input(l, 0, first, S - first));
    auto mask_b = chunked.recorded_mask(0);
    CHECK((at::cat({a, b}, 1) - whole).abs().max().item<double>() < 1e-5);
    const int64_t nb = one.recorded_mask(0).size(3);
    auto joined = at::cat({at::constant_pad_nd(mask_a.to(at::kByte), {0, nb - mask_a.size(3)}),
                           mask_b.to(at::kByte)}, 2);
    CHECK(at::equal(joined, one.recorded_mask(0).to(at::kByte)));
    CHECK(chunked.stats().overall() == Approx(one.stats().overall()));
  }

  core::DensePolicy dense_policy;
  core::GatedAttentionHook d(nullptr, &dense_policy, kB);
  CHECK_FALSE(d.attend(chunk_input(l, 0, 0, S)).has_value());
  CHECK(d.stats().overall() == Approx(0.0));

  // Baselines run through the same hook without gates; oracle threshold 0 keeps every block.
  core::ThresholdPolicy oracle(0.0, core::ScoreSource::kOracle);
  core::GatedAttentionHook o(nullptr, &oracle, kB);
  CHECK((*o.attend(chunk_input(l, 0, 0, S)) - dense).abs().max().item<double>() < 1e-5);
  core::StreamingPolicy streaming(1, 1);
  core::GatedAttentionHook st(nullptr, &streaming, kB);
  CHECK_FALSE(st.attend(chunk_input(l, 0, 0, S))->isnan().any().item<bool>());
}

TEST_CASE("capture hook records G, pooled Q/K and P across chunks", "[gates][hook][capture]") {
  const int64_t S = GENERATE(40, 64);
  CAPTURE(S);
  auto gen = at::detail::createCPUGenerator(S);
  auto l = random_layer(1, S, gen);
  auto g = gates();
  core::CaptureOptions opts;
  opts.block = kB;
  opts.layers = {1};
  opts.heads = {0, 3};
  opts.gates = &g;
  core::TopkPolicy half(0, 0.5, core::ScoreSource::kGate);
  opts.policy = &half;
  core::CaptureHook hook(opts);
  hook.begin_sequence();
  auto dense = kernels::attention(l.q, l.k, l.v).out;
  auto out0 = *hook.attend(chunk_input(l, 0, 0, S));  // layer 0: not selected, output still dense
  CHECK((out0 - dense).abs().max().item<double>() < 1e-5);
  const int64_t first = kB;
  auto a = *hook.attend(chunk_input(l, 1, 0, first));
  auto b = *hook.attend(chunk_input(l, 1, first, S - first));
  CHECK((at::cat({a, b}, 1) - dense).abs().max().item<double>() < 1e-5);

  auto taken = hook.take();
  REQUIRE(taken.size() == 1);
  const auto& c = taken.at(1);
  auto heads = at::tensor({0, 3}, at::kLong);
  auto g_true = kernels::attention_with_block_maxpool(l.q, l.k, l.v, kB).block_maxpool;
  CHECK((c.g - g_true.index_select(1, heads)).abs().max().item<double>() < 1e-6);
  auto q_pool = kernels::pool_blocks(l.q_pre, kB, core::capture_pool_kinds());
  auto k_pool = kernels::pool_blocks(l.k_pre, kB, core::capture_pool_kinds());
  CHECK(at::allclose(c.q_pooled, q_pool));
  CHECK(at::allclose(c.k_pooled, k_pool));
  const auto& gate = g.layers[1];
  auto p = gate.scores(core::pooled_subset(q_pool, kD, gate.config().q_pools),
                       core::pooled_subset(k_pool, kD, gate.config().k_pools));
  CHECK((c.p - p.index_select(1, heads)).abs().max().item<double>() < 1e-6);
  CHECK(c.mask.sizes() == c.p.sizes());
  CHECK(c.mask.scalar_type() == at::kBool);
}
