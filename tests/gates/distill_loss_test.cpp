// The distillation loss KL(G || P): value against a plain float64 sum, gradient against central
// finite differences (w.r.t. the logits and end to end w.r.t. gate weights), first-quarter drop,
// padding rows, layer averaging and scale.
#include "catch.h"

#include "core/gate/attn_gate.h"
#include "core/gate/distill_loss.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

using namespace seer;

namespace {

// Causal logits [B, H, nb, nb] (-inf above the diagonal) and a row-normalised G with some zeros.
std::pair<at::Tensor, at::Tensor> random_problem(int64_t B, int64_t H, int64_t nb,
                                                 at::Generator& gen) {
  auto causal = at::ones({nb, nb}, at::kBool).tril();
  auto logits = at::randn({B, H, nb, nb}, gen, at::kDouble)
                    .masked_fill(causal.logical_not(), -std::numeric_limits<double>::infinity());
  auto g = at::rand({B, H, nb, nb}, gen, at::kDouble);
  g = g.masked_fill(g < 0.3, 0.0).masked_fill(causal.logical_not(), 0.0);
  g.select(3, 0).add_(0.01);  // every row has at least one non-zero (column 0 is always causal)
  g = g / g.sum(-1, true);
  return {logits, g};
}

// sum over kept rows of sum_j G log(G/P), divided by the kept non-empty rows; plain loops.
double kl_ref(const at::Tensor& logits, const at::Tensor& g, int64_t first) {
  auto lp = at::log_softmax(logits, -1);
  double total = 0;
  int64_t rows = 0;
  for (int64_t b = 0; b < g.size(0); ++b)
    for (int64_t h = 0; h < g.size(1); ++h)
      for (int64_t i = first; i < g.size(2); ++i) {
        double row_sum = 0;
        for (int64_t j = 0; j < g.size(3); ++j) {
          const double gv = g[b][h][i][j].item<double>();
          row_sum += gv;
          if (gv > 0) total += gv * (std::log(gv) - lp[b][h][i][j].item<double>());
        }
        if (row_sum > 0) ++rows;
      }
  return rows > 0 ? total / rows : 0.0;  // no valid row: the loss is defined as 0
}

}  // namespace

TEST_CASE("distill loss value matches a plain KL", "[gates][loss]") {
  const int64_t nb = GENERATE(1, 3, 4, 9);
  const int64_t B = GENERATE(1, 2);
  CAPTURE(nb, B);
  auto gen = at::detail::createCPUGenerator(100 + nb * 3 + B);
  auto [logits, g] = random_problem(B, 3, nb, gen);
  core::DistillLossOptions opts;
  const int64_t first = nb / 4;
  auto kl = core::distill_layer_kl(at::log_softmax(logits, -1), g, opts).item<double>();
  CHECK(kl == Approx(kl_ref(logits, g, first)).epsilon(1e-12));
  CHECK(kl >= 0.0);

  SECTION("no drop: all rows") {
    opts.drop_first_quarter = false;
    auto v = core::distill_layer_kl(at::log_softmax(logits, -1), g, opts).item<double>();
    CHECK(v == Approx(kl_ref(logits, g, 0)).epsilon(1e-12));
  }
  SECTION("P == G gives zero") {
    auto lg = at::log(g).masked_fill(g == 0, -std::numeric_limits<double>::infinity());
    CHECK(std::abs(core::distill_layer_kl(lg, g, opts).item<double>()) < 1e-12);
  }
  SECTION("element_mean divides by rows * nbk") {
    opts.reduction = "element_mean";
    auto v = core::distill_layer_kl(at::log_softmax(logits, -1), g, opts).item<double>();
    CHECK(v == Approx(kl_ref(logits, g, first) / nb).epsilon(1e-12));
  }
  SECTION("padding rows (G row = 0) are left out") {
    auto g2 = g.clone();
    g2.select(0, 0).select(1, nb - 1).zero_();  // batch 0, last row, all heads
    auto v = core::distill_layer_kl(at::log_softmax(logits, -1), g2, opts).item<double>();
    CHECK(v == Approx(kl_ref(logits, g2, first)).epsilon(1e-12));
    CHECK(std::isfinite(v));
  }
  SECTION("layers are averaged and scaled") {
    auto [l2, g2] = random_problem(B, 3, nb, gen);
    const double a = kl_ref(logits, g, first), b = kl_ref(l2, g2, first);
    auto loss = core::distill_loss({at::log_softmax(logits, -1), at::log_softmax(l2, -1)},
                                   {g, g2}, opts);
    CHECK(loss.item<double>() == Approx(10.0 * (a + b) / 2).epsilon(1e-12));
  }
}

TEST_CASE("distill loss gradient matches finite differences", "[gates][loss]") {
  const int64_t nb = GENERATE(2, 5, 8);
  CAPTURE(nb);
  auto gen = at::detail::createCPUGenerator(7 + nb);
  const auto problem = random_problem(2, 2, nb, gen);
  const at::Tensor logits0 = problem.first, g = problem.second;
  core::DistillLossOptions opts;
  auto loss_of = [&](const at::Tensor& logits) {
    return core::distill_loss({at::log_softmax(logits, -1)}, {g}, opts);
  };
  auto logits = logits0.clone().requires_grad_(true);
  auto loss = loss_of(logits);
  loss.backward();
  auto grad = logits.grad();
  REQUIRE(grad.defined());
  CHECK_FALSE(grad.isnan().any().item<bool>());
  const double h = 1e-6;
  double max_err = 0, max_grad = 0;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t hh = 0; hh < 2; ++hh)
      for (int64_t i = 0; i < nb; ++i)
        for (int64_t j = 0; j <= i; ++j) {
          auto plus = logits0.clone(), minus = logits0.clone();
          plus[b][hh][i][j] += h;
          minus[b][hh][i][j] -= h;
          const double fd = (loss_of(plus).item<double>() - loss_of(minus).item<double>()) / (2 * h);
          const double an = grad[b][hh][i][j].item<double>();
          max_err = std::max(max_err, std::abs(fd - an));
          max_grad = std::max(max_grad, std::abs(an));
        }
  CAPTURE(max_err, max_grad);
  CHECK(max_grad > 1e-3);  // the test means something
  CHECK(max_err < 1e-7);
  // Masked (above-diagonal) logits get exactly zero gradient, not NaN.
  if (nb > 1) CHECK(grad.triu(1).abs().max().item<double>() == 0.0);
  // Rows of the dropped first quarter get no gradient.
  if (nb / 4 > 0) CHECK(grad.narrow(2, 0, nb / 4).abs().max().item<double>() == 0.0);
}

TEST_CASE("distill loss gradient w.r.t. gate weights matches finite differences", "[gates][loss]") {
  const int64_t S = GENERATE(40, 64);
  CAPTURE(S);
  const int64_t b = 16, D = 4, Hkv = 1, Hq = 2, d = 4;
  core::GateConfig cfg;
  cfg.block_size = b;
  cfg.hidden_size = d;
  cfg.init_std = 0.7;
  core::GateRope rope;
  rope.rope.theta = 100.0;
  auto gen = at::detail::createCPUGenerator(3 + S);
  auto gate = core::AttnGate::init(cfg, {Hq, Hkv, D}, rope, gen);
  gate.to(at::kCPU, at::kDouble);
  auto q = at::randn({1, S, Hq, D}, gen, at::kDouble);
  auto k = at::randn({1, S, Hkv, D}, gen, at::kDouble);
  auto pooled = gate.pool(q, k);
  const int64_t nb = pooled.q.size(1);
  const at::Tensor g = random_problem(1, Hq, nb, gen).second;

  auto loss_with = [&](const at::Tensor& wq, const at::Tensor& wk) {
    core::AttnGate gt(cfg, {Hq, Hkv, D}, rope, wq, wk);
    return core::distill_loss({gt.log_scores(pooled.q, pooled.k)}, {g});
  };
  auto wq = gate.wq().clone().requires_grad_(true);
  auto wk = gate.wk().clone().requires_grad_(true);
  loss_with(wq, wk).backward();
  const double h = 1e-6;
  double max_err = 0, max_grad = 0;
  for (auto* which : {&wq, &wk}) {
    auto flat_grad = which->grad().reshape(-1);
    const int64_t n = which->numel();
    for (int64_t idx = 0; idx < n; idx += 3) {
      auto wq_p = wq.detach().clone(), wk_p = wk.detach().clone();
      auto wq_m = wq.detach().clone(), wk_m = wk.detach().clone();
      (which == &wq ? wq_p : wk_p).view(-1)[idx] += h;
      (which == &wq ? wq_m : wk_m).view(-1)[idx] -= h;
      const double fd = (loss_with(wq_p, wk_p).item<double>() -
                         loss_with(wq_m, wk_m).item<double>()) / (2 * h);
      const double an = flat_grad[idx].item<double>();
      max_err = std::max(max_err, std::abs(fd - an));
      max_grad = std::max(max_grad, std::abs(an));
    }
  }
  CAPTURE(max_err, max_grad);
  CHECK(max_grad > 1e-3);
  CHECK(max_err < 1e-6 * std::max(1.0, max_grad));
}

namespace {

// KL plus the threshold-decision term, per kept non-empty row, plain loops in float64.
double kl_decision_ref(const at::Tensor& logits, const at::Tensor& g, int64_t first,
                       double weight, const std::vector<double>& taus, double temperature) {
  auto lp = at::log_softmax(logits, -1);
  double total = kl_ref(logits, g, first), decisions = 0;
  int64_t rows = 0;
  for (int64_t b = 0; b < g.size(0); ++b)
    for (int64_t h = 0; h < g.size(1); ++h)
      for (int64_t i = first; i < g.size(2); ++i) {
        double row_sum = 0;
        for (int64_t j = 0; j < g.size(3); ++j) row_sum += g[b][h][i][j].item<double>();
        if (row_sum <= 0) continue;
        ++rows;
        for (int64_t j = 0; j <= i; ++j) {   // the causal blocks
          const double l = lp[b][h][i][j].item<double>();
          for (double tau : taus) {
            const double z = (l - std::log(tau)) / temperature;
            const bool positive = g[b][h][i][j].item<double>() > tau;
            const double sig = 1.0 / (1.0 + std::exp(-z));
            decisions -= weight / taus.size() * std::log(positive ? sig : 1.0 - sig);
          }
        }
      }
  return rows > 0 ? total + decisions / rows : 0.0;
}

}  // namespace

TEST_CASE("the threshold-decision term matches a plain logistic loss, value and gradient",
          "[gates][loss]") {
  const int64_t nb = GENERATE(3, 8);
  const int64_t B = GENERATE(1, 2);
  CAPTURE(nb, B);
  auto gen = at::detail::createCPUGenerator(900 + nb + B);
  auto [logits, g] = random_problem(B, 2, nb, gen);
  core::DistillLossOptions opts;
  opts.decision_weight = 0.7;
  opts.decision_tau = {0.05, 0.2};
  opts.decision_temperature = 0.5;
  const int64_t first = nb / 4;
  const double want = kl_decision_ref(logits, g, first, 0.7, {0.05, 0.2}, 0.5);
  auto x = logits.clone().requires_grad_(true);
  auto loss = core::distill_layer_kl(at::log_softmax(x, -1), g, opts);
  CHECK(loss.item<double>() == Approx(want).epsilon(1e-12));
  // The term is positive and changes the loss: the test tells the two apart.
  CHECK(loss.item<double>() > kl_ref(logits, g, first) + 1e-3);
  // Per batch entry, the same value.
  if (B == 2) {
    auto each = core::distill_layer_kl_each(at::log_softmax(logits, -1), g, opts);
    CHECK(each[1].item<double>() ==
          Approx(kl_decision_ref(logits.narrow(0, 1, 1), g.narrow(0, 1, 1), first, 0.7,
                                 {0.05, 0.2}, 0.5)).epsilon(1e-12));
  }
  loss.backward();
  // Central differences on a few finite logits.
  const double h = 1e-6;
  for (int64_t i = first; i < nb; ++i) {
    const int64_t j = i / 2;
    auto plus = logits.clone(), minus = logits.clone();
    plus[0][1][i][j] += h;
    minus[0][1][i][j] -= h;
    const double fd = (kl_decision_ref(plus, g, first, 0.7, {0.05, 0.2}, 0.5) -
                       kl_decision_ref(minus, g, first, 0.7, {0.05, 0.2}, 0.5)) / (2 * h);
    CAPTURE(i, j);
    CHECK(x.grad()[0][1][i][j].item<double>() == Approx(fd).epsilon(1e-6).margin(1e-9));
  }
  CHECK(at::isfinite(x.grad()).all().item<bool>());
}

TEST_CASE("decision options are checked", "[gates][loss]") {
  core::DistillLossOptions opts;
  opts.decision_weight = 1.0;
  auto message = [&] {
    try {
      core::check_distill_loss_options(opts);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("<no error>");
  };
  CHECK(message().find("decision_tau") != std::string::npos);
  opts.decision_tau = {1.5};
  CHECK(message().find("not a threshold") != std::string::npos);
  opts.decision_tau = {0.01};
  CHECK(message() == "<no error>");
}
