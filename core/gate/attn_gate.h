// The AttnGate of one layer (DESIGN.md §2): block-pooled pre-RoPE Q and K, per-head linear maps
// to the gate hidden size d, RoPE at each block's first token, and block-causal softmax scores
// P [B, Hq, nbq, nbk] over key blocks. The K side has one map per KV head and is shared by the
// g = Hq / Hkv query heads of its group (never repeated in memory). Weights are plain tensors with
// requires_grad, so libtorch autograd trains them; the pooled inputs never need gradients (the
// LLM is frozen).
//
// Reference-checkpoint corner: with one Q pooling and d == D the reference has no Q map (identity)
// and a K map per *query* head, wk [Hq, D*|k pools|, d]; `wq` is then undefined.
//
// Query sub-blocks (GateConfig::q_subblocks = s > 1): pooled Q has s rows per query block
// ([B, nbq * s, Hq, Dq], pool_query_subblocks), each row rotated at its block's first token (as
// the keys) and scored against the key blocks its block may see; logits() returns, per block, the max over its s
// rows of their log-softmax, so softmax(logits) is the renormalised max of the rows' distributions.
//
// Distance bias (GateConfig::distance_buckets = n > 0): `distance_bias` [Hq, n] is added to every
// logit of head h at (query block i, key block j) as distance_bias[h, distance_bucket(i - j, n)],
// after the scaled dot product and before the causal mask; zeros at init, so a gate with the bias
// starts from the same scores as one without. Saved in our gate files only (the reference layout
// has no such weight).
//
// Block RoPE (GateConfig::rope_dim): all d channels with dim-d frequencies (hidden_size), or the
// first D channels with the model's dim-D frequencies and [D, d) unrotated (head_dim, needs D <= d).
#pragma once

#include "core/gate/gate_config.h"
#include "core/model/rope.h"

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace seer::core {

struct GateShape {
  int64_t num_q_heads = 0;   // Hq
  int64_t num_kv_heads = 0;  // Hkv
  int64_t head_dim = 0;      // D
};

// The model's rotary settings; the gate applies them at its own dim d (DESIGN.md §2).
struct GateRope {
  RopeConfig rope;
  int64_t max_position_embeddings = 2048;
};

struct PooledQK {
  at::Tensor q;  // [B, nbq * q_subblocks, Hq, D * |q pools|]
  at::Tensor k;  // [B, nbk, Hkv, D * |k pools|]
};

// Q [B, S, H, D] pooled per (block / subblocks)-token sub-block: [B, ceil(S / block) * subblocks, H,
// D * |kinds|]. Sub-rows past a sequence's last token (S, or `seq_lens` of a padded batch) repeat
// its last sub-row, so a block's max over its rows sees only real tokens. subblocks 1 is
// kernels::pool_blocks.
at::Tensor pool_query_subblocks(const at::Tensor& q, int64_t block, int64_t subblocks,
                                const std::vector<kernels::PoolKind>& kinds,
                                const std::optional<at::Tensor>& seq_lens = std::nullopt);

class AttnGate {
 public:
  AttnGate() = default;
  // Weights as given (float32 or the training dtype); shapes are checked against cfg/shape.
  // `wq` undefined selects the identity-Q corner described above; `distance_bias` is defined
  // exactly when cfg.distance_buckets > 0.
  AttnGate(GateConfig cfg, GateShape shape, GateRope rope, at::Tensor wq, at::Tensor wk,
           at::Tensor distance_bias = at::Tensor());

  // Fresh N(0, cfg.init_std) weights drawn from `generator` (wq first, then wk), float32 on CPU;
  // the distance bias (when configured) starts at zero and draws nothing.
  static AttnGate init(const GateConfig& cfg, const GateShape& shape, const GateRope& rope,
                       at::Generator& generator);

  // Pools one chunk of pre-RoPE Q [B, S, Hq, D] and K [B, S, Hkv, D] (ceil mode), no gradient.
  PooledQK pool(const at::Tensor& q_pre_rope, const at::Tensor& k_pre_rope,
                const std::optional<at::Tensor>& seq_lens = std::nullopt) const;

  // Masked logits [B, Hq, nbq, nbk] in the weights' dtype: -inf above the block-causal diagonal
  // and on key blocks past `kv_blocks` ([B] valid key blocks per sequence, padded batches).
  // Query block i sits at absolute block q_block_offset + i (chunked prefill); key block j at j.
  at::Tensor logits(const at::Tensor& q_pooled, const at::Tensor& k_pooled,
                    int64_t q_block_offset = 0,
                    const std::optional<at::Tensor>& kv_blocks = std::nullopt) const;
  at::Tensor scores(const at::Tensor& q_pooled, const at::Tensor& k_pooled,
                    int64_t q_block_offset = 0,
                    const std::optional<at::Tensor>& kv_blocks = std::nullopt) const;   // P
  at::Tensor log_scores(const at::Tensor& q_pooled, const at::Tensor& k_pooled,
                        int64_t q_block_offset = 0,
                        const std::optional<at::Tensor>& kv_blocks = std::nullopt) const;  // log P
  // logits() computed in `dtype` from the weights cast to it. The cast is differentiable, so with
  // float32 weights and bfloat16 here the gradient reaches the float32 weights: a bf16 forward with
  // float32 master weights.
  at::Tensor logits_in(at::ScalarType dtype, const at::Tensor& q_pooled,
                       const at::Tensor& k_pooled, int64_t q_block_offset = 0,
                       const std::optional<at::Tensor>& kv_blocks = std::nullopt) const;

  const GateConfig& config() const { return cfg_; }
  const GateShape& shape() const { return shape_; }
  const GateRope& rope() const { return rope_; }
  bool identity_q() const { return !wq_.defined(); }
  const at::Tensor& wq() const { return wq_; }  // [Hq, D*|q pools|, d] or undefined
  const at::Tensor& wk() const { return wk_; }  // [Hkv, D*|k pools|, d] ([Hq, ...] with identity Q)
  const at::Tensor& distance_bias() const { return bias_; }  // [Hq, n] or undefined
  std::vector<at::Tensor> parameters() const;   // the defined weights, wq, wk, bias (share storage)
  void set_requires_grad(bool on);
  void to(const at::Device& device, at::ScalarType dtype);

 private:
  GateConfig cfg_;
  GateShape shape_;
  GateRope rope_;
  RotaryEmbedding rotary_;  // dim d, or D with rope_dim head_dim
  at::Tensor wq_;
  at::Tensor wk_;
  at::Tensor bias_;
};

}  // namespace seer::core
