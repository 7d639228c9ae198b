// Sparse inference (DESIGN.md §4): an AttentionHook that, in every layer, scores key blocks with
// the layer's AttnGate on the chunk's pre-RoPE Q/K (keeping the pooled K of earlier chunks, so a
// chunked prefill sees the whole cache), turns the scores into a block mask with a SparsityPolicy,
// and runs kernels::block_sparse_attention over the kept tiles. Baseline policies use the same
// hook: without a gate (streaming, random, vertical-slash), or with the true G (oracle, computed
// by attention_with_block_maxpool). The measured sparsity of every layer and head is recorded.
#pragma once

#include "core/gate/gate_set.h"
#include "core/model/attention_hook.h"
#include "core/sparsity/sparsity_policy.h"
#include "core/sparsity/sparsity_stats.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace seer::core {

class GatedAttentionHook final : public AttentionHook {
 public:
  // `gates` may be null when the policy does not need gate scores; `block` is then the block size
  // (with gates it must equal the gates' block size). Neither pointer is owned.
  GatedAttentionHook(const GateSet* gates, const SparsityPolicy* policy, int64_t block);

  std::optional<at::Tensor> attend(const LayerAttentionInput& in) override;
  void begin_sequence() override;

  const SparsityStats& stats() const { return stats_; }
  SparsityStats& stats() { return stats_; }
  // Keep the last gate scores / masks of these layers (for heatmaps); empty = none.
  void record_layers(std::vector<int64_t> layers) { record_layers_ = std::move(layers); }
  // Recorded P [B, Hq, nbq, nbk] (undefined without a gate) and mask of `layer`'s last call.
  const at::Tensor& recorded_scores(int64_t layer) const { return recorded_scores_.at(layer); }
  const at::Tensor& recorded_mask(int64_t layer) const { return recorded_masks_.at(layer); }

 private:
  at::Tensor gate_scores(const LayerAttentionInput& in, const BlockGeometry& geo);

  const GateSet* gates_;
  const SparsityPolicy* policy_;
  int64_t block_;
  SparsityStats stats_;
  std::vector<at::Tensor> k_pooled_;  // per layer: pooled K of the blocks seen so far
  std::vector<int64_t> record_layers_;
  std::map<int64_t, at::Tensor> recorded_scores_;
  std::map<int64_t, at::Tensor> recorded_masks_;
};

}  // namespace seer::core
