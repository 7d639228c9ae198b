// The batched distillation step: per-sequence KL equals the KL of each batch entry alone;
// samples group by shape; one batched forward per layer gives the losses and gradients of the
// one-sample-at-a-time reference (distill_sample_loss); and DistillTrainer::run, batched, in
// micro-batches or over mixed lengths, reaches the weights of the one-sample-at-a-time loop
// (written out here as the reference) within float tolerance.
#include "catch.h"

#include "core/gate/distill_trainer.h"
#include "gates_test_util.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

using namespace seer;

namespace {

constexpr int64_t kB = 16, kHq = 4, kHkv = 2, kD = 8, kLayers = 3;

core::GateConfig gate_config(int64_t seed) {
  core::GateConfig c;
  c.block_size = kB;
  c.hidden_size = 16;
  c.seed = seed;
  c.init_std = 0.3;
  return c;
}

core::GateSet gates(int64_t seed) {
  core::GateRope r;
  r.rope.theta = 10000.0;
  return core::GateSet::init(gate_config(seed), {kHq, kHkv, kD}, r, kLayers, "t");
}

// A sample of `tokens` tokens with random pooled Q/K and a random row-normalised causal G over
// `layers`; `heads` selects G's query heads (empty = all).
core::DistillSample random_sample(const std::string& id, int64_t tokens,
                                  const std::vector<int64_t>& layers,
                                  const std::vector<int64_t>& heads, at::Generator& gen) {
  core::DistillSample s;
  s.id = id;
  s.tokens = tokens;
  s.heads = heads;
  const int64_t nb = (tokens + kB - 1) / kB;
  const int64_t H = heads.empty() ? kHq : static_cast<int64_t>(heads.size());
  auto causal = at::ones({nb, nb}, at::kBool).tril();
  for (int64_t l : layers) {
    s.layers.push_back(l);
    s.q_pooled.push_back(at::randn({nb, kHq, 3 * kD}, gen, at::kFloat));
    s.k_pooled.push_back(at::randn({nb, kHkv, 3 * kD}, gen, at::kFloat));
    auto g = at::rand({H, nb, nb}, gen, at::kFloat).masked_fill(causal.logical_not(), 0.0);
    g = g.masked_fill(g < 0.2, 0.0);
    g.select(2, 0).add_(0.01);
    s.g.push_back(g / g.sum(-1, true));
  }
  return s;
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

}  // namespace

TEST_CASE("distill_layer_kl_each is the KL of each batch entry alone", "[gates][distill]") {
  const int64_t B = GENERATE(1, 3);
  const int64_t nb = GENERATE(1, 5, 8);
  const std::string reduction = GENERATE(std::string("row_mean"), std::string("element_mean"));
  CAPTURE(B, nb, reduction);
  auto gen = at::detail::createCPUGenerator(7 + B * 11 + nb);
  auto causal = at::ones({nb, nb}, at::kBool).tril();
  auto logits = at::randn({B, 3, nb, nb}, gen, at::kDouble)
                    .masked_fill(causal.logical_not(), -std::numeric_limits<double>::infinity());
  auto g = at::rand({B, 3, nb, nb}, gen, at::kDouble).masked_fill(causal.logical_not(), 0.0);
  g = g / g.sum(-1, true);
  if (B > 1) g.select(0, 1).select(0, 2).zero_();   // a padded entry: rows of one head all zero
  core::DistillLossOptions opts;
  opts.reduction = reduction;
  auto lp = at::log_softmax(logits, -1);
  auto each = core::distill_layer_kl_each(lp, g, opts);
  REQUIRE(each.sizes() == at::IntArrayRef({B}));
  for (int64_t b = 0; b < B; ++b) {
    const double alone =
        core::distill_layer_kl(lp.narrow(0, b, 1), g.narrow(0, b, 1), opts).item<double>();
    CHECK(each[b].item<double>() == Approx(alone).epsilon(1e-12).margin(1e-14));
  }
  // distill_loss_each combines layers as distill_loss does: mean over layers, times the scale.
  auto loss_each = core::distill_loss_each({each, each * 3.0}, opts);
  for (int64_t b = 0; b < B; ++b) {
    const auto lb = lp.narrow(0, b, 1), gb = g.narrow(0, b, 1);
    const double one_layer = core::distill_loss({lb}, {gb}, opts).item<double>();
    CHECK(loss_each[b].item<double>() == Approx(one_layer * 2.0).epsilon(1e-12).margin(1e-14));
  }
}

TEST_CASE("samples group by shape and stack in step order", "[gates][distill]") {
  auto gen = at::detail::createCPUGenerator(3);
  std::vector<core::DistillSample> s = {
      random_sample("a", 80, {0, 2}, {}, gen), random_sample("b", 70, {0, 2}, {}, gen),
      random_sample("c", 80, {0, 2}, {}, gen), random_sample("d", 80, {1}, {}, gen),
      random_sample("e", 70, {0, 2}, {}, gen)};
  auto batch = core::group_distill_samples(s);
  REQUIRE(batch.groups.size() == 3);
  CHECK(batch.num_samples() == 5);
  CHECK(batch.tokens() == 80 * 3 + 70 * 2);
  CHECK(batch.groups[0].ids == std::vector<std::string>{"a", "c"});
  CHECK(batch.groups[1].ids == std::vector<std::string>{"b", "e"});
  CHECK(batch.groups[2].ids == std::vector<std::string>{"d"});
  CHECK(at::equal(batch.groups[0].q_pooled[1].select(0, 1), s[2].q_pooled[1]));
  CHECK(at::equal(batch.groups[1].g[0].select(0, 1), s[4].g[0]));
  auto part = batch.groups[0].slice(1, 1);
  CHECK(part.ids == std::vector<std::string>{"c"});
  CHECK(at::equal(part.k_pooled[0].select(0, 0), s[2].k_pooled[0]));

  // select_pools picks kinds by name, in the asked order.
  auto x = at::arange(3 * kD, at::kFloat).view({1, 3 * kD});
  using K = kernels::PoolKind;
  auto y = core::select_pools(x, kD, core::capture_pool_kinds(), {K::kMin, K::kAvg});
  CHECK(at::equal(y, at::cat({x.narrow(1, 2 * kD, kD), x.narrow(1, 0, kD)}, 1)));
  CHECK(gates_test::contains(gates_test::error_message([&] {
          core::select_pools(x.narrow(1, 0, kD), kD, {K::kAvg}, {K::kMax});
        }), "holds avg but the gate reads max"));
}

TEST_CASE("one batched forward gives the per-sample losses and gradients", "[gates][distill]") {
  const int64_t tokens = GENERATE(16, 75, 128);   // one block, a partial last block, 8 blocks
  const int64_t B = GENERATE(1, 3);
  const bool head_subset = GENERATE(false, true);
  CAPTURE(tokens, B, head_subset);
  auto gen = at::detail::createCPUGenerator(tokens * 5 + B);
  const std::vector<int64_t> heads = head_subset ? std::vector<int64_t>{3, 0} : std::vector<int64_t>{};
  std::vector<core::DistillSample> samples;
  for (int64_t b = 0; b < B; ++b)
    samples.push_back(random_sample("s" + std::to_string(b), tokens, {0, 2}, heads, gen));
  auto batch = core::group_distill_samples(samples);
  REQUIRE(batch.groups.size() == 1);

  auto g1 = gates(1), g2 = gates(1);
  g1.set_requires_grad(true);
  g2.set_requires_grad(true);
  core::DistillLossOptions opts;
  at::Tensor layer_kl;
  auto batched = core::distill_group_loss(g1, batch.groups[0], opts, &layer_kl);
  REQUIRE(batched.sizes() == at::IntArrayRef({B}));
  REQUIRE(layer_kl.sizes() == at::IntArrayRef({2, B}));
  at::Tensor ref_sum;
  for (int64_t b = 0; b < B; ++b) {
    std::vector<double> kl;
    auto ref = core::distill_sample_loss(g2, samples[b], opts, &kl);
    CHECK(batched[b].item<double>() == Approx(ref.item<double>()).epsilon(1e-5));
    for (size_t i = 0; i < kl.size(); ++i)
      CHECK(layer_kl[i][b].item<double>() == Approx(kl[i]).epsilon(1e-5));
    ref_sum = ref_sum.defined() ? ref_sum + ref : ref;
  }
  batched.sum().backward();
  ref_sum.backward();
  auto p1 = g1.parameters(), p2 = g2.parameters();
  for (size_t i = 0; i < p1.size(); ++i) {
    if (!p2[i].grad().defined()) {
      CHECK_FALSE(p1[i].grad().defined());   // layer 1: no sample has it
      continue;
    }
    const double scale = p2[i].grad().abs().max().item<double>();
    CAPTURE(i, scale);
    CHECK(max_abs_diff(p1[i].grad(), p2[i].grad()) <= 1e-5 * scale + 1e-9);
  }
}

namespace {

// The one-sample-at-a-time loop the trainer must match: per sample a forward, a backward of
// loss / batch; then global-norm clipping and an AdamW step (the trainer's schedule).
void reference_loop(core::GateSet& g, const std::vector<core::DistillSample>& samples,
                    const core::DistillTrainConfig& cfg) {
  g.to(at::kCPU, at::kFloat);
  g.set_requires_grad(true);
  auto params = g.parameters();
  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(cfg.lr)
                                      .betas({cfg.beta1, cfg.beta2})
                                      .eps(cfg.eps)
                                      .weight_decay(cfg.weight_decay));
  const int64_t n = static_cast<int64_t>(samples.size());
  for (int64_t step = 0; step < cfg.steps; ++step) {
    for (auto& group : opt.param_groups())
      static_cast<torch::optim::AdamWOptions&>(group.options()).lr(core::distill_lr_at(cfg, step));
    opt.zero_grad();
    for (int64_t m = 0; m < cfg.batch; ++m) {
      const auto& s = samples[core::distill_sample_index(cfg.seed, step * cfg.batch + m, n)];
      (core::distill_sample_loss(g, s, cfg.loss, nullptr) / static_cast<double>(cfg.batch))
          .backward();
    }
    torch::nn::utils::clip_grad_norm_(params, cfg.grad_clip);
    opt.step();
  }
  g.set_requires_grad(false);
}

}  // namespace

TEST_CASE("the batched trainer matches the one-sample-at-a-time loop", "[gates][distill]") {
  const bool mixed = GENERATE(false, true);   // mixed lengths: a step falls back to groups
  const int64_t micro = GENERATE(0, 1, 2);
  CAPTURE(mixed, micro);
  auto gen = at::detail::createCPUGenerator(21);
  std::vector<core::DistillSample> samples;
  for (int64_t i = 0; i < 6; ++i)
    samples.push_back(random_sample("s" + std::to_string(i), mixed && i % 2 ? 50 : 96,
                                    {0, 1, 2}, {}, gen));
  core::DistillTrainConfig cfg;
  cfg.steps = 4;
  cfg.batch = 4;
  cfg.lr = 1e-2;
  cfg.warmup_steps = 1;
  cfg.grad_clip = 0.05;   // small enough to clip every step
  cfg.checkpoint_every = 100;
  auto trained = gates(2);
  core::DistillTrainer t(trained, [&](int64_t i) { return samples[i]; },
                         static_cast<int64_t>(samples.size()), cfg,
                         gates_test::fresh_dir("distill_batched_vs_loop"));
  t.set_micro_batch(micro);
  CHECK(t.run().step == 4);
  auto ref = gates(2);
  reference_loop(ref, samples, cfg);
  auto a = trained.parameters(), b = ref.parameters();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    CHECK(max_abs_diff(a[i], b[i]) < 2e-5);
  }
}
