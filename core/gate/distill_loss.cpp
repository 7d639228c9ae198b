#include "core/gate/distill_loss.h"

#include <ATen/ATen.h>

#include <stdexcept>

namespace seer::core {

int64_t distill_first_row(int64_t nbq, const DistillLossOptions& opts) {
  return opts.drop_first_quarter ? nbq / 4 : 0;
}

at::Tensor distill_layer_kl(const at::Tensor& log_p, const at::Tensor& g,
                            const DistillLossOptions& opts) {
  TORCH_CHECK(log_p.dim() == 4, "distill_layer_kl: log_p must be [B, Hq, nbq, nbk], got ",
              log_p.sizes());
  TORCH_CHECK(g.sizes() == log_p.sizes(), "distill_layer_kl: G ", g.sizes(),
              " and log_p ", log_p.sizes(), " differ");
  if (opts.reduction != "row_mean" && opts.reduction != "element_mean")
    throw std::invalid_argument("distill loss reduction '" + opts.reduction +
                                "': expected row_mean | element_mean");
  const int64_t nbq = log_p.size(2);
  const int64_t first = distill_first_row(nbq, opts);
  auto lp = log_p.narrow(2, first, nbq - first);
  auto gt = g.narrow(2, first, nbq - first).to(lp.device(), lp.scalar_type());
  // 0 log 0 = 0; where G = 0 the (possibly -inf) log P must not reach the product, neither in
  // the value nor in the gradient.
  auto present = gt > 0;
  auto safe_lp = lp.masked_fill(present.logical_not(), 0.0);
  auto elem = at::xlogy(gt, gt) - gt * safe_lp;         // [B, Hq, rows, nbk]
  auto row_valid = gt.sum(-1) > 0;                       // [B, Hq, rows]
  auto total = elem.sum();
  if (opts.reduction == "element_mean") {
    const int64_t n = row_valid.sum().item<int64_t>() * lp.size(3);
    return n > 0 ? total / static_cast<double>(n) : total * 0.0;
  }
  const int64_t rows = row_valid.sum().item<int64_t>();
  return rows > 0 ? total / static_cast<double>(rows) : total * 0.0;
}

at::Tensor distill_loss(const std::vector<at::Tensor>& log_p, const std::vector<at::Tensor>& g,
                        const DistillLossOptions& opts) {
  TORCH_CHECK(!log_p.empty() && log_p.size() == g.size(), "distill_loss: ", log_p.size(),
              " gate outputs but ", g.size(), " ground-truth maps");
  at::Tensor sum;
  for (size_t l = 0; l < log_p.size(); ++l) {
    auto kl = distill_layer_kl(log_p[l], g[l], opts);
    sum = sum.defined() ? sum + kl : kl;
  }
  return sum * (opts.scale / static_cast<double>(log_p.size()));
}

}  // namespace seer::core
