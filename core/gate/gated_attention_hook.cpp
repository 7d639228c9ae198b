#include "core/gate/gated_attention_hook.h"

#include "core/model/finite_guard.h"
#include "kernels/attention.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <chrono>

namespace seer::core {
namespace {

// Adds the time since the last mark to a phase total, after waiting for the device; does nothing
// when phase timing is off.
class PhaseClock {
 public:
  explicit PhaseClock(const std::function<void()>& sync) : sync_(sync) { mark(nullptr); }
  void mark(double* total_ms) {
    if (!sync_) return;
    sync_();
    const auto now = std::chrono::steady_clock::now();
    if (total_ms) *total_ms += std::chrono::duration<double, std::milli>(now - last_).count();
    last_ = now;
  }

 private:
  const std::function<void()>& sync_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace

GatedAttentionHook::GatedAttentionHook(const GateSet* gates, const SparsityPolicy* policy,
                                       int64_t block)
    : gates_(gates), policy_(policy), block_(block) {
  TORCH_CHECK(policy_ != nullptr, "GatedAttentionHook: a sparsity policy is required");
  TORCH_CHECK(!policy_->needs_gate() || gates_ != nullptr, "GatedAttentionHook: policy '",
              policy_->name(), "' needs gates, none given");
  if (gates_) {
    TORCH_CHECK(gates_->config.block_size == block_, "GatedAttentionHook: block ", block_,
                " differs from the gates' block size ", gates_->config.block_size);
    k_pooled_.resize(gates_->num_layers());
  }
}

void GatedAttentionHook::begin_sequence() {
  for (auto& k : k_pooled_) k = at::Tensor();
}

at::Tensor GatedAttentionHook::gate_scores(const LayerAttentionInput& in, const BlockGeometry& geo) {
  TORCH_CHECK(in.layer < gates_->num_layers(), "GatedAttentionHook: layer ", in.layer,
              " but the gates have ", gates_->num_layers(), " layers");
  TORCH_CHECK(in.q_offset % block_ == 0, "GatedAttentionHook: chunk starts at ", in.q_offset,
              ", not a multiple of the block size ", block_);
  at::NoGradGuard no_grad;
  const AttnGate& gate = gates_->layers[in.layer];
  auto pooled = gate.pool(in.q_pre_rope, in.k_pre_rope, in.seq_lens);
  at::Tensor& cache = k_pooled_[in.layer];
  const int64_t first_block = in.q_offset / block_;
  if (first_block == 0 || !cache.defined()) {
    TORCH_CHECK(first_block == 0, "GatedAttentionHook: layer ", in.layer, " chunk at block ",
                first_block, " but no pooled keys cached (begin_sequence without the first chunk?)");
    cache = pooled.k;
  } else {
    TORCH_CHECK(cache.size(1) == first_block, "GatedAttentionHook: layer ", in.layer,
                " has pooled keys for ", cache.size(1), " blocks, the chunk starts at block ",
                first_block);
    cache = at::cat({cache, pooled.k}, 1);
  }
  std::optional<at::Tensor> kv_blocks;
  if (in.seq_lens) kv_blocks = valid_key_blocks(geo);
  return gate.scores(pooled.q, cache, first_block, kv_blocks);
}

std::optional<at::Tensor> GatedAttentionHook::attend(const LayerAttentionInput& in) {
  PhaseClock clock(sync_);
  const BlockGeometry geo = BlockGeometry::of(in.q, in.k, block_, in.seq_lens);
  SparsityInputs si;
  si.geo = geo;
  si.layer = in.layer;
  si.scale = in.scale;
  if (gates_) si.gate_scores = gate_scores(in, geo);  // also keeps the pooled-K cache current
  if (in.finite_guard) in.finite_guard->note(in.layer, "gate scores P", si.gate_scores, 1);
  kernels::AttnOptions opts;
  opts.scale = in.scale;
  opts.seq_lens = in.seq_lens;
  at::Tensor dense_out;   // the exact attention, when G's pass computed it
  if (policy_->needs_ground_truth() || observer_) {
    auto gt = kernels::attention_with_block_maxpool(in.q, in.k, in.v, block_, opts);
    si.ground_truth = gt.block_maxpool;
    dense_out = gt.out;
  }
  if (policy_->needs_qk()) {
    si.q = in.q;
    si.k = in.k;
  }
  clock.mark(&phases_.gate_ms);
  if (observer_) observer_(si);
  at::Tensor mask = policy_->mask(si);
  stats_.add(in.layer, mask, geo);
  clock.mark(&phases_.mask_ms);
  ++phases_.calls;
  if (std::find(record_layers_.begin(), record_layers_.end(), in.layer) != record_layers_.end()) {
    recorded_scores_[in.layer] = si.gate_scores;
    recorded_masks_[in.layer] = mask;
  }
  if (!policy_->is_sparse()) {  // the model's dense attention
    if (dense_out.defined()) return dense_out;
    return std::nullopt;
  }
  auto index = kernels::block_index_from_mask(mask, block_, geo.sq, geo.sk);
  clock.mark(&phases_.index_ms);
  at::Tensor out = kernels::block_sparse_attention(in.q, in.k, in.v, index, opts).out;
  clock.mark(&phases_.attention_ms);
  return out;
}

}  // namespace seer::core
