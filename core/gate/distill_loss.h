// The self-distillation loss (DESIGN.md §3): per layer KL(G || P) between the ground-truth block
// map G and the gate's scores P, over the query blocks after the first quarter (the reference drops
// rows [0, nbq / 4): near-empty, unstable rows), averaged over layers and scaled (reference x10).
//
// Reduction per layer:
//   row_mean      (default) sum_j G log(G / P) per row, averaged over the kept non-empty rows of
//                 every batch entry and head: a KL in nats per block row.
//   element_mean  the reference's torch.nn.KLDivLoss() ("mean"): the same sum divided by the number
//                 of elements B * Hq * rows * nbk, for reproducing the reference's loss values.
// Rows of G that sum to 0 (padding past a sequence's end) are left out of both.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace seer::core {

struct DistillLossOptions {
  double scale = 10.0;
  bool drop_first_quarter = true;
  std::string reduction = "row_mean";  // row_mean | element_mean
};

// First kept query block: nbq / 4 when dropping the first quarter (absolute rows of a whole
// sequence), else 0.
int64_t distill_first_row(int64_t nbq, const DistillLossOptions& opts);

// One layer, unscaled. log_p [B, Hq, nbq, nbk] (gate log-scores, -inf where masked), g the same
// shape (any float dtype). Differentiable in log_p; computed in log_p's dtype. Never waits for the
// device (no host read of a count), so a training step queues its layers without a sync.
at::Tensor distill_layer_kl(const at::Tensor& log_p, const at::Tensor& g,
                            const DistillLossOptions& opts = {});

// The same KL for each batch entry on its own: [B], entry b equal to
// distill_layer_kl(log_p[b:b+1], g[b:b+1]). A batched training step gets every sequence's loss
// from one forward.
at::Tensor distill_layer_kl_each(const at::Tensor& log_p, const at::Tensor& g,
                                 const DistillLossOptions& opts = {});

// Mean over layers of distill_layer_kl, times opts.scale.
at::Tensor distill_loss(const std::vector<at::Tensor>& log_p, const std::vector<at::Tensor>& g,
                        const DistillLossOptions& opts = {});

// Per batch entry [B]: from per-layer distill_layer_kl_each values ([B] each), the layer
// combination of distill_loss (mean over layers, times opts.scale).
at::Tensor distill_loss_each(const std::vector<at::Tensor>& layer_kl_each,
                             const DistillLossOptions& opts = {});

}  // namespace seer::core
