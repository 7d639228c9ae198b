#include "core/gate/distill_loss.h"

#include <ATen/ATen.h>

#include <cmath>
#include <stdexcept>
#include <string>

namespace seer::core {
namespace {

void check_choice(const char* key, const std::string& value, const char* a, const char* b) {
  if (value != a && value != b)
    throw std::invalid_argument(std::string("distill loss ") + key + " '" + value +
                                "': expected " + a + " | " + b);
}

}  // namespace

void check_distill_loss_options(const DistillLossOptions& opts) {
  check_choice("reduction", opts.reduction, "row_mean", "element_mean");
  check_choice("layer_reduction", opts.layer_reduction, "mean", "sum");
  check_choice("g_dtype", opts.g_dtype, "float32", "bfloat16");
  check_choice("gate_dtype", opts.gate_dtype, "float32", "bfloat16");
  if (!(opts.decision_weight >= 0.0))
    throw std::invalid_argument("distill loss decision_weight: expected >= 0");
  if (opts.decision_weight > 0.0) {
    if (opts.decision_tau.empty())
      throw std::invalid_argument("distill loss decision_tau: expected at least one threshold "
                                  "when decision_weight > 0");
    for (double t : opts.decision_tau)
      if (!(t > 0.0 && t < 1.0))
        throw std::invalid_argument("distill loss decision_tau: " + std::to_string(t) +
                                    " is not a threshold in (0, 1)");
    if (!(opts.decision_temperature > 0.0))
      throw std::invalid_argument("distill loss decision_temperature: expected > 0");
  }
}

int64_t distill_first_row(int64_t nbq, const DistillLossOptions& opts) {
  return opts.drop_first_quarter ? nbq / 4 : 0;
}

at::Tensor distill_g_bf16(const at::Tensor& g) {
  const auto p = g.to(at::kBFloat16);
  const auto sums = p.sum(-1, /*keepdim=*/true);  // float accumulation, bf16 result (as torch.sum)
  const auto safe = sums.masked_fill(sums == 0, 1.0);
  return (p / safe).to(at::kFloat);               // bf16 division: the quotient rounds to bf16
}

namespace {

// The KL terms summed per batch entry ([B]) and what the reduction divides them by ([B]).
struct KlSums {
  at::Tensor total;
  at::Tensor count;
};

KlSums kl_sums(const at::Tensor& log_p, const at::Tensor& g, const DistillLossOptions& opts) {
  TORCH_CHECK(log_p.dim() == 4, "distill_layer_kl: log_p must be [B, Hq, nbq, nbk], got ",
              log_p.sizes());
  TORCH_CHECK(g.sizes() == log_p.sizes(), "distill_layer_kl: G ", g.sizes(),
              " and log_p ", log_p.sizes(), " differ");
  check_distill_loss_options(opts);
  const int64_t nbq = log_p.size(2);
  const int64_t first = distill_first_row(nbq, opts);
  auto lp = log_p.narrow(2, first, nbq - first);
  auto g_rows = g.narrow(2, first, nbq - first);
  if (opts.g_dtype == "bfloat16") g_rows = distill_g_bf16(g_rows);  // row-local: rows kept first
  auto gt = g_rows.to(lp.device(), lp.scalar_type());
  // 0 log 0 = 0; where G = 0 the (possibly -inf) log P must not reach the product, neither in
  // the value nor in the gradient.
  auto present = gt > 0;
  auto safe_lp = lp.masked_fill(present.logical_not(), 0.0);
  auto elem = at::xlogy(gt, gt) - gt * safe_lp;         // [B, Hq, rows, nbk]
  auto row_valid = gt.sum(-1, /*keepdim=*/true) > 0;    // [B, Hq, rows, 1]
  if (opts.decision_weight > 0.0) {
    // Causal blocks only (log P finite); elsewhere z is a finite stand-in and the term is masked.
    const auto causal = at::isfinite(lp);
    const auto lp_finite = lp.masked_fill(causal.logical_not(), 0.0);
    at::Tensor decisions;
    for (double tau : opts.decision_tau) {
      const auto z = (lp_finite - std::log(tau)) / opts.decision_temperature;
      const auto label = (gt > tau).to(lp.scalar_type());
      const auto bce = at::softplus(z) - label * z;      // -log sigmoid(+-z), stable
      decisions = decisions.defined() ? decisions + bce : bce;
    }
    const double w = opts.decision_weight / static_cast<double>(opts.decision_tau.size());
    elem = elem + (decisions * w).masked_fill(causal.logical_not().logical_or(
                                                  row_valid.logical_not()), 0.0);
  }
  KlSums s;
  s.total = elem.sum({1, 2, 3});
  s.count = row_valid.sum({1, 2, 3}).to(lp.scalar_type());
  if (opts.reduction == "element_mean") s.count = s.count * static_cast<double>(lp.size(3));
  return s;
}

// total / count, 0 where count is 0 (no valid row: the loss is defined as 0; total is 0 there).
at::Tensor safe_ratio(const at::Tensor& total, const at::Tensor& count) {
  return total / count.clamp_min(1.0);
}

}  // namespace

at::Tensor distill_layer_kl(const at::Tensor& log_p, const at::Tensor& g,
                            const DistillLossOptions& opts) {
  const KlSums s = kl_sums(log_p, g, opts);
  return safe_ratio(s.total.sum(), s.count.sum());
}

at::Tensor distill_layer_kl_each(const at::Tensor& log_p, const at::Tensor& g,
                                 const DistillLossOptions& opts) {
  const KlSums s = kl_sums(log_p, g, opts);
  return safe_ratio(s.total, s.count);
}

at::Tensor distill_loss(const std::vector<at::Tensor>& log_p, const std::vector<at::Tensor>& g,
                        const DistillLossOptions& opts) {
  TORCH_CHECK(!log_p.empty() && log_p.size() == g.size(), "distill_loss: ", log_p.size(),
              " gate outputs but ", g.size(), " ground-truth maps");
  check_distill_loss_options(opts);
  std::vector<at::Tensor> kl;
  for (size_t l = 0; l < log_p.size(); ++l) kl.push_back(distill_layer_kl(log_p[l], g[l], opts));
  return distill_loss_each(kl, opts);
}

at::Tensor distill_loss_each(const std::vector<at::Tensor>& layer_kl_each,
                             const DistillLossOptions& opts) {
  TORCH_CHECK(!layer_kl_each.empty(), "distill_loss: no layers");
  at::Tensor sum;
  for (const auto& kl : layer_kl_each) sum = sum.defined() ? sum + kl : kl;
  const double layers =
      opts.layer_reduction == "sum" ? 1.0 : static_cast<double>(layer_kl_each.size());
  return sum * (opts.scale / layers);
}

}  // namespace seer::core
