// Ground-truth capture (DESIGN.md §1, §3): an AttentionHook that runs every layer through
// kernels::attention_with_block_maxpool (the model's output is unchanged) and records, for the
// selected layers and heads, the block map G and the layer's block-pooled pre-RoPE Q and K with
// all three poolings (avg, max, min, in that order on the channel axis), so one capture serves
// every gate configuration (pooled_subset() picks a gate's poolings). Optionally also the gate
// scores P and the block masks of a policy.
#pragma once

#include "core/gate/distill_batch.h"
#include "core/gate/gate_set.h"
#include "core/model/attention_hook.h"
#include "core/sparsity/sparsity_policy.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace seer::core {

// From captured pools [..., D * 3] (avg, max, min) to a gate's input [..., D * |kinds|].
at::Tensor pooled_subset(const at::Tensor& all_pools, int64_t head_dim,
                         const std::vector<kernels::PoolKind>& kinds);

struct CapturedLayer {
  at::Tensor g;         // [B, H_sel, nb, nb] (query heads in `heads` order)
  at::Tensor q_pooled;  // [B, nb * q_subblocks, Hq, 3D] pre-RoPE pooled Q (all query heads)
  at::Tensor k_pooled;  // [B, nb, Hkv, 3D]
  at::Tensor p;         // [B, H_sel, nb, nb] gate scores, when gates were given
  at::Tensor mask;      // [B, H_sel, nb, nb] bool, when a policy was given
};

struct CaptureOptions {
  int64_t block = 64;
  std::vector<int64_t> layers;   // empty = all
  std::vector<int64_t> heads;    // query heads of G / P / masks; empty = all
  bool pooled = true;            // record pooled Q/K
  int64_t q_subblocks = 1;       // Q pooled per block / q_subblocks tokens (GateConfig::q_subblocks)
  const GateSet* gates = nullptr;           // record P (not owned)
  const SparsityPolicy* policy = nullptr;   // record masks (needs gates if the policy does)
  // Where and how the recorded tensors stay. to_host copies each layer's tensors to the host as
  // the layer runs (one device sync per layer); without it they stay on the model's device until
  // the caller takes them, so a prefill queues its layers without waiting. G and the pooled Q/K
  // are cast to these dtypes on the device (float16 halves a later device -> host copy).
  bool to_host = true;
  at::ScalarType g_dtype = at::kFloat;
  at::ScalarType pooled_dtype = at::kFloat;
};

class CaptureHook final : public AttentionHook {
 public:
  explicit CaptureHook(CaptureOptions opts);

  std::optional<at::Tensor> attend(const LayerAttentionInput& in) override;
  void begin_sequence() override;

  // The current sequence's layers (chunks joined; G rows of early chunks zero-padded to the final
  // key-block count), moved out; the hook is empty afterwards.
  std::map<int64_t, CapturedLayer> take();

 private:
  bool selected(int64_t layer) const;

  struct Pieces {
    std::vector<at::Tensor> g, q, k, p, mask;
    at::Tensor k_all;  // pooled K so far (for P across chunks)
  };
  CaptureOptions opts_;
  std::map<int64_t, Pieces> pieces_;
};

}  // namespace seer::core
