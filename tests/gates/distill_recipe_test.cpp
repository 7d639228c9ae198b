// The distillation recipe's options against float64 re-implementations of the reference's
// formulas (microsoft/SeerAttention with transformers 4.51, docs/distillation.md):
//   - loss_reduction element_mean + layer_reduction sum + loss_scale = 10 * sum over layers of
//     torch.nn.KLDivLoss() ("mean", at::kl_div) on log_softmax of logits with finfo(bf16).min added
//     above the diagonal, rows [nbq // 4, nbq) kept: value and gradient, odd nbq, batch > 1, GQA;
//   - grad_scale: the step's gradient the trainer applies and logs, against the reference's
//     (1 / ranks) x sum over ranks and accumulation steps;
//   - warmup_offset 0: transformers' get_cosine_schedule_with_warmup at every step;
//   - g_dtype bfloat16: the bf16 rounding and normalisation of G;
//   - gate_dtype bfloat16: a bf16 forward whose gradient reaches float32 weights;
//   - the train section of configs/train/reference.yaml and the errors for bad values.
#include "catch.h"

#include "core/config/compose.h"
#include "core/config/config_error.h"
#include "core/gate/capture_hook.h"
#include "core/gate/distill_trainer.h"
#include "core/gate/gate_config.h"
#include "gates_test_util.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

using namespace seer;

namespace {

constexpr double kBf16Min = -3.3895313892515355e38;  // torch.finfo(torch.bfloat16).min

// Round-to-nearest-even of a float32 value to bf16, on the bits (independent of torch's cast).
double bf16_round(double x) {
  float f = static_cast<float>(x);
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7FFFu + ((u >> 16) & 1u);
  u &= 0xFFFF0000u;
  std::memcpy(&f, &u, 4);
  return f;
}

// A row-normalised causal G [B, H, nb, nb] with zeros at random causal places (double).
at::Tensor random_g(int64_t B, int64_t H, int64_t nb, at::Generator& gen) {
  auto causal = at::ones({nb, nb}, at::kBool).tril();
  auto g = at::rand({B, H, nb, nb}, gen, at::kDouble);
  g = g.masked_fill(g < 0.3, 0.0).masked_fill(causal.logical_not(), 0.0);
  g.select(3, 0).add_(0.01);  // column 0 is causal for every row: no empty row
  return g / g.sum(-1, true);
}

// The reference's per-layer loss on raw (unmasked) logits [B, H, nbq, nbk], float64: the model's
// additive block mask (finfo(bf16).min above the diagonal), rows from floor(nbq / 4), log_softmax,
// torch.nn.KLDivLoss() with its default "mean" reduction.
at::Tensor reference_layer_loss(const at::Tensor& raw_logits, const at::Tensor& g) {
  const int64_t nbq = raw_logits.size(2), nbk = raw_logits.size(3);
  auto causal = at::ones({nbq, nbk}, at::kBool).tril();
  auto masked = raw_logits + at::where(causal, at::zeros({}, at::kDouble),
                                       at::full({}, kBf16Min, at::kDouble));
  const auto first = static_cast<int64_t>(std::floor(static_cast<double>(nbq) / 4.0));
  auto lp = at::log_softmax(masked.narrow(2, first, nbq - first), -1);
  return at::kl_div(lp, g.narrow(2, first, nbq - first), at::Reduction::Mean);
}

// Ours on the same logits: -inf above the diagonal, log-softmax over whole rows.
at::Tensor our_log_p(const at::Tensor& raw_logits) {
  const int64_t nbq = raw_logits.size(2), nbk = raw_logits.size(3);
  auto causal = at::ones({nbq, nbk}, at::kBool).tril();
  return at::log_softmax(
      raw_logits.masked_fill(causal.logical_not(), -std::numeric_limits<double>::infinity()), -1);
}

core::DistillLossOptions reference_loss_options() {
  core::DistillLossOptions o;
  o.scale = 10.0;
  o.reduction = "element_mean";
  o.layer_reduction = "sum";
  return o;
}

core::GateRope test_rope() {
  core::GateRope r;
  r.rope.theta = 500.0;
  return r;
}

// transformers' _get_cosine_schedule_with_warmup_lr_lambda (num_cycles 0.5) times lr.
double hf_cosine_lr(double lr, int64_t step, int64_t warmup, int64_t total) {
  if (step < warmup) return lr * static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup));
  const double progress = static_cast<double>(step - warmup) /
                          static_cast<double>(std::max<int64_t>(1, total - warmup));
  return lr * std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * 0.5 * 2.0 * progress)));
}

config::ComposedConfig compose_quickstart(std::vector<std::string> overrides) {
  config::ComposeRequest req;
  req.config_dir = std::filesystem::path(SEER_SOURCE_DIR) / "configs";
  req.experiment = "quickstart";
  req.overrides = std::move(overrides);
  return config::compose(req);
}

}  // namespace

TEST_CASE("reference loss: 10 x sum over layers of KLDivLoss mean, value and gradient",
          "[gates][recipe]") {
  const int64_t nb = GENERATE(1, 3, 5, 7, 9, 13);
  const int64_t B = GENERATE(1, 2);
  const int64_t H = 3;
  CAPTURE(nb, B);
  auto gen = at::detail::createCPUGenerator(1000 + nb * 7 + B);
  auto raw0 = at::randn({B, H, nb, nb}, gen, at::kDouble) * 2.0;
  auto raw1 = at::randn({B, H, nb, nb}, gen, at::kDouble) * 2.0;
  auto g0 = random_g(B, H, nb, gen), g1 = random_g(B, H, nb, gen);

  auto a0 = raw0.clone().requires_grad_(true), a1 = raw1.clone().requires_grad_(true);
  auto want = 10.0 * (reference_layer_loss(a0, g0) + reference_layer_loss(a1, g1));
  want.backward();
  auto b0 = raw0.clone().requires_grad_(true), b1 = raw1.clone().requires_grad_(true);
  auto got = core::distill_loss({our_log_p(b0), our_log_p(b1)}, {g0, g1}, reference_loss_options());
  got.backward();
  CHECK(got.item<double>() == Approx(want.item<double>()).epsilon(1e-12));
  const double scale = std::max(a0.grad().abs().max().item<double>(), 1e-300);
  CAPTURE(scale);
  if (nb > 1) CHECK(scale > 1e-4);  // not trivially zero (one block: P = G = 1, no gradient)
  CHECK((b0.grad() - a0.grad()).abs().max().item<double>() < 1e-12 * std::max(1.0, scale));
  CHECK((b1.grad() - a1.grad()).abs().max().item<double>() < 1e-12 * std::max(1.0, scale));

  SECTION("the per-layer term and the first kept row") {
    core::DistillLossOptions o = reference_loss_options();
    CHECK(core::distill_first_row(nb, o) == static_cast<int64_t>(std::floor(nb / 4.0)));
    CHECK(core::distill_layer_kl(our_log_p(raw0), g0, o).item<double>() ==
          Approx(reference_layer_loss(raw0, g0).item<double>()).epsilon(1e-12));
  }
  SECTION("our defaults: per row and mean over layers = reference x nbk / layers") {
    // With every row non-empty, KL per row = KLDivLoss mean x nbk.
    auto ours = core::distill_loss({our_log_p(raw0), our_log_p(raw1)}, {g0, g1}).item<double>();
    CHECK(ours == Approx(want.item<double>() * nb / 2.0).epsilon(1e-12));
  }
}

TEST_CASE("reference loss end to end on a GQA gate sample", "[gates][recipe]") {
  const int64_t nb = GENERATE(5, 7);
  CAPTURE(nb);
  const int64_t b = 8, D = 4, Hkv = 2, Hq = 6, d = 8, L = 2;
  core::GateConfig cfg;
  cfg.block_size = b;
  cfg.hidden_size = d;
  cfg.init_std = 0.5;
  auto gates = core::GateSet::init(cfg, {Hq, Hkv, D}, test_rope(), L, "t");
  auto gen = at::detail::createCPUGenerator(40 + nb);
  core::DistillSample s;
  s.id = "x";
  s.tokens = nb * b - 3;
  for (int64_t l = 0; l < L; ++l) {
    s.layers.push_back(l);
    s.q_pooled.push_back(at::randn({nb, Hq, 3 * D}, gen, at::kFloat));
    s.k_pooled.push_back(at::randn({nb, Hkv, 3 * D}, gen, at::kFloat));
    s.g.push_back(random_g(1, Hq, nb, gen).squeeze(0).to(at::kFloat));
  }
  const auto got = core::distill_sample_loss(gates, s, reference_loss_options(), nullptr);
  double want = 0;
  for (int64_t l = 0; l < L; ++l) {
    const auto& gate = gates.layers[l];
    core::AttnGate g64(gate.config(), gate.shape(), gate.rope(), gate.wq().to(at::kDouble),
                       gate.wk().to(at::kDouble));
    auto q = core::pooled_subset(s.q_pooled[l].to(at::kDouble), D, cfg.q_pools).unsqueeze(0);
    auto k = core::pooled_subset(s.k_pooled[l].to(at::kDouble), D, cfg.k_pools).unsqueeze(0);
    auto logits = g64.logits(q, k);
    auto raw = logits.masked_fill(logits.isinf(), 0.0);  // the reference adds its mask itself
    want += 10.0 * reference_layer_loss(raw, s.g[l].to(at::kDouble).unsqueeze(0)).item<double>();
  }
  CHECK(got.item<double>() == Approx(want).epsilon(1e-5));  // float32 gate vs float64
}

TEST_CASE("grad_scale: the trainer's step gradient is the reference's", "[gates][recipe]") {
  const double grad_scale = GENERATE(1.0, 2.0);
  CAPTURE(grad_scale);
  const int64_t nb = 7, b = 8, D = 4, Hkv = 2, Hq = 4, d = 8, L = 2, batch = 4;
  core::GateConfig cfg;
  cfg.block_size = b;
  cfg.hidden_size = d;
  cfg.init_std = 0.5;
  auto gen = at::detail::createCPUGenerator(77);
  std::vector<core::DistillSample> samples;
  for (int64_t i = 0; i < batch; ++i) {
    core::DistillSample s;
    s.id = std::to_string(i);
    s.tokens = nb * b;
    for (int64_t l = 0; l < L; ++l) {
      s.layers.push_back(l);
      s.q_pooled.push_back(at::randn({nb, Hq, 3 * D}, gen, at::kFloat));
      s.k_pooled.push_back(at::randn({nb, Hkv, 3 * D}, gen, at::kFloat));
      s.g.push_back(random_g(1, Hq, nb, gen).squeeze(0).to(at::kFloat));
    }
    samples.push_back(std::move(s));
  }
  auto gates = core::GateSet::init(cfg, {Hq, Hkv, D}, test_rope(), L, "t");

  // The reference on 2 ranks x 2 accumulation steps: each rank sums its micro-batches' gradients
  // of 10 * sum_l KLDivLoss (transformers 4.51 + DeepSpeed divide by neither), ranks average.
  std::vector<at::Tensor> w64;
  std::vector<core::AttnGate> g64;
  for (const auto& gate : gates.layers) {
    w64.push_back(gate.wq().to(at::kDouble).requires_grad_(true));
    w64.push_back(gate.wk().to(at::kDouble).requires_grad_(true));
    g64.emplace_back(gate.config(), gate.shape(), gate.rope(), w64[w64.size() - 2], w64.back());
  }
  const int64_t ranks = 2;
  double loss_sum = 0;
  for (const auto& s : samples) {
    at::Tensor loss;
    for (int64_t l = 0; l < L; ++l) {
      auto q = core::pooled_subset(s.q_pooled[l].to(at::kDouble), D, cfg.q_pools).unsqueeze(0);
      auto k = core::pooled_subset(s.k_pooled[l].to(at::kDouble), D, cfg.k_pools).unsqueeze(0);
      auto logits = g64[l].logits(q, k);
      auto raw = logits.masked_fill(logits.isinf(), 0.0);
      auto kl = 10.0 * reference_layer_loss(raw, s.g[l].to(at::kDouble).unsqueeze(0));
      loss = loss.defined() ? loss + kl : kl;
    }
    loss_sum += loss.item<double>();
    (loss / static_cast<double>(ranks)).backward();
  }
  double norm2 = 0;
  for (const auto& w : w64) norm2 += w.grad().pow(2).sum().item<double>();
  const double ref_norm = std::sqrt(norm2);

  core::DistillTrainConfig tc;
  tc.steps = 1;
  tc.batch = batch;
  tc.grad_clip = 0.0;
  tc.grad_scale = grad_scale;
  tc.loss = reference_loss_options();
  core::DistillTrainer trainer(
      gates, [&](int64_t i) { return samples.at(i); }, batch, tc,
      gates_test::fresh_dir("recipe_grad_scale"));
  auto m = trainer.run();
  CAPTURE(m.grad_norm, ref_norm, m.loss, loss_sum);
  CHECK(ref_norm > 1e-3);
  // The reference's step gradient equals grad_scale 2 = accumulation steps (batch / ranks).
  const double accumulation = static_cast<double>(batch / ranks);
  CHECK(m.grad_norm == Approx(ref_norm * grad_scale / accumulation).epsilon(1e-4));
  CHECK(m.loss == Approx(grad_scale * loss_sum / batch).epsilon(1e-5));
  CHECK(core::distill_sample_weight(tc) == grad_scale / batch);
}

TEST_CASE("warmup_offset 0 is transformers' cosine schedule with warm-up", "[gates][recipe]") {
  struct Case { int64_t steps, warmup; };
  const auto c = GENERATE(Case{500, 20}, Case{7, 3}, Case{5, 0}, Case{4, 4}, Case{1, 1}, Case{2, 1});
  CAPTURE(c.steps, c.warmup);
  core::DistillTrainConfig cfg;
  cfg.steps = c.steps;
  cfg.warmup_steps = c.warmup;
  cfg.lr = 1e-3;
  cfg.min_lr_ratio = 0.0;
  cfg.warmup_offset = 0;
  for (int64_t step = 0; step <= c.steps; ++step) {
    CAPTURE(step);
    CHECK(core::distill_lr_at(cfg, step) == Approx(hf_cosine_lr(1e-3, step, c.warmup, c.steps)).margin(1e-15));
  }
  if (c.warmup > 0) {
    CHECK(core::distill_lr_at(cfg, 0) == 0.0);                     // transformers: step 0 learns nothing
    CHECK(core::distill_lr_at(cfg, c.warmup) == Approx(1e-3));     // the peak, first cosine step
  }
  if (c.warmup < c.steps) CHECK(core::distill_lr_at(cfg, c.steps) == Approx(0.0).margin(1e-15));

  SECTION("warmup_offset 1 starts at lr / warmup and peaks one step earlier") {
    cfg.warmup_offset = 1;
    if (c.warmup == 0) return;
    CHECK(core::distill_lr_at(cfg, 0) == Approx(1e-3 / c.warmup));
    CHECK(core::distill_lr_at(cfg, c.warmup - 1) == Approx(1e-3));
    for (int64_t step = c.warmup; step <= c.steps; ++step)  // the cosine part is the same
      CHECK(core::distill_lr_at(cfg, step) == Approx(hf_cosine_lr(1e-3, step, c.warmup, c.steps)).margin(1e-15));
  }
}

TEST_CASE("g_dtype bfloat16: G rounded, summed and divided as the reference's kernel does",
          "[gates][recipe]") {
  const int64_t nb = GENERATE(3, 9, 33);
  const int64_t B = GENERATE(1, 2);
  CAPTURE(nb, B);
  auto gen = at::detail::createCPUGenerator(500 + nb + B);
  auto g = random_g(B, 3, nb, gen);
  g.select(3, 1).mul_(1e-5);  // small entries: a range of exponents
  g = (g / g.sum(-1, true)).to(at::kFloat);
  g.select(2, nb - 1).select(0, B - 1).zero_();  // a padding row stays 0
  const auto got = core::distill_g_bf16(g);
  REQUIRE(got.scalar_type() == at::kFloat);
  auto ga = g.to(at::kDouble).contiguous();
  auto oa = got.to(at::kDouble).contiguous();
  auto gp = ga.accessor<double, 4>();
  auto op = oa.accessor<double, 4>();
  int64_t n = 0, nonzero = 0, exact = 0, rounded_away = 0, non_bf16 = 0;
  double worst = 0;
  for (int64_t bi = 0; bi < B; ++bi)
    for (int64_t h = 0; h < 3; ++h)
      for (int64_t i = 0; i < nb; ++i) {
        double s = 0;
        for (int64_t j = 0; j < nb; ++j) s += bf16_round(gp[bi][h][i][j]);
        const double sb = bf16_round(s);
        for (int64_t j = 0; j < nb; ++j) {
          const double want = s == 0 ? 0.0 : bf16_round(bf16_round(gp[bi][h][i][j]) / sb);
          const double have = op[bi][h][i][j];
          ++n;
          nonzero += want != 0;
          exact += have == want;
          rounded_away += have != gp[bi][h][i][j];
          non_bf16 += bf16_round(have) != have;
          if (want != 0) worst = std::max(worst, std::abs(have - want) / want);
        }
      }
  CAPTURE(n, nonzero, exact, rounded_away, non_bf16, worst);
  CHECK(non_bf16 == 0);
  CHECK(worst <= 1.0 / 256);              // at most one bf16 step (float vs exact row sums)
  CHECK(exact >= n * 99 / 100);
  CHECK(rounded_away > nonzero / 2);      // the rounding really happened
  CHECK(got.select(2, nb - 1).select(0, B - 1).abs().max().item<double>() == 0.0);

  SECTION("the loss uses the rounded G") {
    auto logits = at::randn({B, 3, nb, nb}, gen, at::kDouble);
    core::DistillLossOptions o;
    o.g_dtype = "bfloat16";
    auto lp = our_log_p(logits);
    CHECK(core::distill_layer_kl(lp, g, o).item<double>() ==
          Approx(core::distill_layer_kl(lp, got).item<double>()).epsilon(1e-12));
  }
}

TEST_CASE("gate_dtype bfloat16: bf16 forward, gradient into float32 weights", "[gates][recipe]") {
  const int64_t S = GENERATE(70, 129);
  const int64_t g = GENERATE(1, 3);
  CAPTURE(S, g);
  const int64_t b = 16, D = 8, Hkv = 2, Hq = Hkv * g, d = 16, B = 2;
  core::GateConfig cfg;
  cfg.block_size = b;
  cfg.hidden_size = d;
  cfg.init_std = 0.3;
  auto gen = at::detail::createCPUGenerator(9 + S + g);
  auto gate = core::AttnGate::init(cfg, {Hq, Hkv, D}, test_rope(), gen);  // float32
  auto q = at::randn({B, S, Hq, D}, gen, at::kFloat);
  auto k = at::randn({B, S, Hkv, D}, gen, at::kFloat);
  auto pooled = gate.pool(q, k);
  auto wq = gate.wq().clone().requires_grad_(true), wk = gate.wk().clone().requires_grad_(true);
  core::AttnGate live(cfg, gate.shape(), gate.rope(), wq, wk);
  auto logits = live.logits_in(at::kBFloat16, pooled.q, pooled.k);
  REQUIRE(logits.scalar_type() == at::kBFloat16);

  // float64 from the bf16-rounded inputs and weights: what an exact bf16 forward would give.
  auto r64 = [](const at::Tensor& t) { return t.to(at::kBFloat16).to(at::kDouble); };
  core::AttnGate exact(cfg, gate.shape(), gate.rope(), r64(gate.wq()), r64(gate.wk()));
  auto want = exact.logits(r64(pooled.q), r64(pooled.k));
  auto finite = want.isfinite();
  CHECK(at::equal(logits.isfinite(), finite));  // the same entries masked
  const auto got64 = logits.to(at::kDouble).masked_fill(finite.logical_not(), 0.0);
  const auto want0 = want.masked_fill(finite.logical_not(), 0.0);
  const double mag = want0.abs().max().item<double>();
  const double err = (got64 - want0).abs().max().item<double>();
  CAPTURE(mag, err);
  CHECK(mag > 1.0);
  CHECK(err < mag / 64);      // 1-1.4 bf16 steps of mag seen: roundings through matmul, RoPE, scale

  // Backward: float32 gradients on the float32 weights, close to the float32 forward's.
  auto g_map = random_g(B, Hq, pooled.q.size(1), gen).to(at::kFloat);
  auto loss = core::distill_loss({at::log_softmax(logits.to(at::kFloat), -1)}, {g_map});
  loss.backward();
  REQUIRE(wq.grad().defined());
  CHECK(wq.grad().scalar_type() == at::kFloat);
  auto wq32 = gate.wq().clone().requires_grad_(true), wk32 = gate.wk().clone().requires_grad_(true);
  core::AttnGate live32(cfg, gate.shape(), gate.rope(), wq32, wk32);
  core::distill_loss({live32.log_scores(pooled.q, pooled.k)}, {g_map}).backward();
  const double gmax = wq32.grad().abs().max().item<double>();
  const double gerr = (wq.grad() - wq32.grad()).abs().max().item<double>();
  CAPTURE(gmax, gerr);
  CHECK(gmax > 1e-4);
  CHECK(gerr < 0.02 * gmax);  // 0.6-0.8% seen
}

TEST_CASE("train=reference and gate=reference parse to the reference's values", "[gates][recipe]") {
  const auto c = compose_quickstart({"train=reference", "gate=reference"});
  const auto t = core::parse_distill_train_config(config::ConfigReader(c.tree, "train"));
  CHECK(t.steps == 500);
  CHECK(t.batch == 16);
  CHECK(t.lr == 1e-3);
  CHECK(t.warmup_steps == 20);
  CHECK(t.warmup_offset == 0);
  CHECK(t.min_lr_ratio == 0.0);
  CHECK(t.weight_decay == 0.0);
  CHECK(t.beta1 == 0.9);
  CHECK(t.beta2 == 0.999);
  CHECK(t.eps == 1e-8);
  CHECK(t.grad_clip == 1.0);
  CHECK(t.grad_scale == 2.0);
  CHECK(t.loss.scale == 10.0);
  CHECK(t.loss.drop_first_quarter);
  CHECK(t.loss.reduction == "element_mean");
  CHECK(t.loss.layer_reduction == "sum");
  CHECK(t.loss.g_dtype == "bfloat16");
  CHECK(t.loss.gate_dtype == "bfloat16");
  const auto g = core::parse_gate_config(config::ConfigReader(c.tree, "gate"));
  CHECK(g.type_name() == "Qavg_Kmaxminavg");
  CHECK(g.rope_dim == "head_dim");
  CHECK(g.init_std == 0.02);

  // Our defaults parse as documented.
  const auto ours = core::parse_distill_train_config(
      config::ConfigReader(compose_quickstart({"train=distill"}).tree, "train"));
  CHECK(ours.loss.reduction == "row_mean");
  CHECK(ours.loss.layer_reduction == "mean");
  CHECK(ours.grad_scale == 1.0);
  CHECK(ours.warmup_offset == 1);
}

TEST_CASE("recipe options reject bad values, naming the key and the value", "[gates][recipe]") {
  struct Bad { const char* override_text; const char* key; const char* expected; };
  const auto bad = GENERATE(
      Bad{"train.warmup_offset=2", "train.warmup_offset = '2'", "expected 0"},
      Bad{"train.grad_scale=0", "train.grad_scale = '0'", "expected > 0"},
      Bad{"train.loss_scale=-1", "train.loss_scale = '-1'", "expected > 0"},
      Bad{"train.layer_reduction=avg", "train.layer_reduction = 'avg'", "mean | sum"},
      Bad{"train.loss_reduction=batchmean", "train.loss_reduction = 'batchmean'", "row_mean | element_mean"},
      Bad{"train.g_dtype=float16", "train.g_dtype = 'float16'", "float32 | bfloat16"},
      Bad{"train.gate_dtype=half", "train.gate_dtype = 'half'", "float32 | bfloat16"},
      Bad{"train.beta2=1.0", "train.beta2 = '1.0'", "[0, 1)"},
      Bad{"train.eps=0", "train.eps = '0'", "expected > 0"},
      Bad{"train.weight_decay=-0.1", "train.weight_decay = '-0.1'", "expected >= 0"},
      Bad{"gate.rope_dim=d", "gate.rope_dim = 'd'", "hidden_size | head_dim"});
  CAPTURE(bad.override_text);
  const auto c = compose_quickstart({bad.override_text});
  const std::string msg = gates_test::error_message([&] {
    core::parse_distill_train_config(config::ConfigReader(c.tree, "train"));
    core::parse_gate_config(config::ConfigReader(c.tree, "gate"));
  });
  CAPTURE(msg);
  CHECK(gates_test::contains(msg, "command line"));
  CHECK(gates_test::contains(msg, bad.key));
  CHECK(gates_test::contains(msg, bad.expected));

  SECTION("the loss refuses unknown option values it is handed directly") {
    core::DistillLossOptions o;
    o.layer_reduction = "avg";
    auto lp = our_log_p(at::zeros({1, 1, 2, 2}, at::kDouble));
    const std::string m2 = gates_test::error_message(
        [&] { core::distill_loss({lp}, {at::full({1, 1, 2, 2}, 0.5, at::kDouble)}, o); });
    CHECK(gates_test::contains(m2, "layer_reduction 'avg': expected mean | sum"));
  }
}
