// The self-distillation loss (DESIGN.md §3, docs/distillation.md): per layer KL(G || P) between the
// ground-truth block map G and the gate's scores P, over the query blocks after the first quarter
// (the reference drops rows [0, nbq / 4) of each sequence: near-empty, unstable rows), reduced over
// layers and scaled (reference x10).
//
// Reduction per layer (`reduction`):
//   row_mean      (default) sum_j G log(G / P) per row, averaged over the kept non-empty rows of
//                 every batch entry and head: a KL in nats per block row, whatever nbk is.
//   element_mean  the reference's torch.nn.KLDivLoss() ("mean"): the same sum divided by
//                 B * Hq * rows * nbk, every element of the kept rows counted, those above the
//                 causal diagonal included (they add 0 to the sum: G = 0 there).
// Rows of G that sum to 0 (padding past a sequence's end) are left out of both; the reference
// never has such rows (it trains on full-length sequences).
// Masked scores: the reference adds finfo(bf16).min to masked logits, so its log P is finite there
// and 0 * log P = 0; ours are -inf and never reach the product. Value and gradient are the same.
//
// Over layers (`layer_reduction`): mean (default; the loss does not grow with the depth) or sum
// (the reference: its model adds every layer's loss).
//
// Threshold decisions (`decision_weight` > 0; not in the reference): KL(G || P) is mass-covering,
// so where the gate is unsure which of several blocks holds a row's weight it spreads P over all of
// them, each below the threshold tau that the policy applies, and the row loses the block that the
// oracle (G > tau) keeps. The decision term trains P > tau to agree with G > tau directly: per
// element, the logistic loss of z = (log P - log tau) / decision_temperature against the label
// G > tau, summed over each row's causal blocks, averaged over the thresholds `decision_tau`, times
// `decision_weight`, and added to the row's KL before the row reduction (so the per-layer values
// reported as `layer_kl` include it).
//
// Precision (`g_dtype`, `gate_dtype`): the reference's Triton kernel stores the max-pooled map in
// bf16 and normalises it in bf16, and its gates run in bf16 (DeepSpeed bf16 with fp32 master
// weights). bfloat16 reproduces each; float32 (default) keeps both in float32.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace seer::core {

struct DistillLossOptions {
  double scale = 10.0;
  bool drop_first_quarter = true;
  std::string reduction = "row_mean";      // row_mean | element_mean
  std::string layer_reduction = "mean";    // mean | sum
  std::string g_dtype = "float32";         // float32 | bfloat16: G as the loss sees it
  std::string gate_dtype = "float32";      // float32 | bfloat16: the gate forward in training
  double decision_weight = 0.0;            // 0 = KL only
  std::vector<double> decision_tau;        // thresholds in (0, 1) the decisions are trained at
  double decision_temperature = 0.5;       // width of the logistic, in log P units
};

// Throws std::invalid_argument naming the first option with a value outside its choices.
void check_distill_loss_options(const DistillLossOptions& opts);

// First kept query block: nbq / 4 when dropping the first quarter (absolute rows of a whole
// sequence), else 0.
int64_t distill_first_row(int64_t nbq, const DistillLossOptions& opts);

// G as the reference's kernel hands it over: the map rounded to bf16, each row summed (float
// accumulation, bf16 result) and divided in bf16. Our G arrives normalised, so the roundings act on
// G instead of on the unnormalised max-pooled map: the same steps and error size, not bit for bit
// the reference's values. Rows summing to 0 stay 0. Returns float32, the shape of g.
at::Tensor distill_g_bf16(const at::Tensor& g);

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

// distill_layer_kl reduced over layers (mean or sum), times opts.scale.
at::Tensor distill_loss(const std::vector<at::Tensor>& log_p, const std::vector<at::Tensor>& g,
                        const DistillLossOptions& opts = {});

// Per batch entry [B]: from per-layer distill_layer_kl_each values ([B] each), the layer
// combination of distill_loss (mean over layers, times opts.scale).
at::Tensor distill_loss_each(const std::vector<at::Tensor>& layer_kl_each,
                             const DistillLossOptions& opts = {});

}  // namespace seer::core
