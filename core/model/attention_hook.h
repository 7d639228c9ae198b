// How gates and ground-truth capture attach to a model without touching model code. The decoder
// calls the hook (when one is set) in every attention layer with the chunk's pre-RoPE Q and K and
// the post-RoPE tensors; the hook either returns the attention output itself (capture: through
// kernels::attention_with_block_maxpool; sparse inference: through block_sparse_attention) or
// returns nullopt to let the model run dense kernels::attention.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>

namespace seer::core {

class FiniteGuard;

struct LayerAttentionInput {
  int64_t layer = 0;
  int64_t q_offset = 0;     // absolute position of the chunk's first query (KV cache length before it)
  double scale = 0.0;       // softmax scale the model uses
  at::Tensor q_pre_rope;    // [B, Sq, Hq, D] this chunk, before RoPE
  at::Tensor k_pre_rope;    // [B, Sq, Hkv, D] this chunk, before RoPE
  at::Tensor q;             // [B, Sq, Hq, D] after RoPE
  at::Tensor k;             // [B, Sk, Hkv, D] after RoPE, the whole cache including this chunk
  at::Tensor v;             // [B, Sk, Hkv, D] the whole cache including this chunk
  std::optional<at::Tensor> seq_lens;  // padded batches: valid length per sequence
  FiniteGuard* finite_guard = nullptr;  // the model's, when attached: hooks note what they compute
};

class AttentionHook {
 public:
  virtual ~AttentionHook() = default;
  // Returns the attention output [B, Sq, Hq, D] (dtype of q), or nullopt for dense attention.
  virtual std::optional<at::Tensor> attend(const LayerAttentionInput& in) = 0;
  // Called once before a new sequence (batch) is prefilled, so hooks can reset per-sequence state.
  virtual void begin_sequence() {}
};

}  // namespace seer::core
