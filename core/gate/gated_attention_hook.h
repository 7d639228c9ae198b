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
#include <functional>
#include <map>
#include <optional>
#include <vector>

namespace seer::core {

// Time spent in each step of attend(), summed over calls (phase timing, off by default).
struct HookPhaseTimes {
  double gate_ms = 0;       // pooling, gate projections and scores (also the oracle's G)
  double mask_ms = 0;       // the policy's mask and the sparsity counts
  double index_ms = 0;      // block_index_from_mask
  double attention_ms = 0;  // block_sparse_attention
  int64_t calls = 0;
};

class GatedAttentionHook final : public AttentionHook {
 public:
  // `gates` may be null when the policy does not need gate scores; `block` is then the block size
  // (with gates it must equal the gates' block size). Neither pointer is owned.
  GatedAttentionHook(const GateSet* gates, const SparsityPolicy* policy, int64_t block);

  std::optional<at::Tensor> attend(const LayerAttentionInput& in) override;
  void begin_sequence() override;

  // Phase timing for profiling: `sync` must wait for the device (each phase is timed between two
  // syncs, so the prefill runs slower while this is on). An empty function turns it off.
  void time_phases(std::function<void()> sync) { sync_ = std::move(sync); phases_ = {}; }
  const HookPhaseTimes& phase_times() const { return phases_; }

  // Calls `observer` in every layer call with the policy's inputs and the true G (computed for it
  // even when the policy does not read it); under a dense policy the hook then returns the
  // output of that same pass, so observing costs no second attention. Used to calibrate.
  void observe_block_maps(std::function<void(const SparsityInputs&)> observer) {
    observer_ = std::move(observer);
  }

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
  std::function<void()> sync_;
  std::function<void(const SparsityInputs&)> observer_;
  HookPhaseTimes phases_;
};

}  // namespace seer::core
