// Llama / Qwen2 decoder-only transformer on plain tensors: embeddings, RMSNorm, rotary, grouped-
// query attention through kernels::attention (or an AttentionHook), SwiGLU MLP, final norm and LM
// head. One forward() call processes one chunk of tokens against a KVCache; prefill() splits long
// inputs into chunks so activation memory stays O(chunk) (the cache is O(S)).
//
//   Decoder model = load_gguf_decoder("assets/models/SmolLM2-135M-Instruct.Q4_1.gguf", opts);
//   KVCache cache = model.new_cache();
//   at::Tensor last = model.prefill(tokens, cache);            // [B, V] float32
//   std::vector<int64_t> answer = model.generate_greedy(prompt, 32);
#pragma once

#include "core/model/attention_hook.h"
#include "core/model/decoder_weights.h"
#include "core/model/kv_cache.h"
#include "core/model/model_config.h"
#include "core/model/rope.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace seer::core {

class FiniteGuard;

enum class LogitsMode { kNone, kLast, kAll };

class Decoder {
 public:
  // Weights must already have the model dtype and sit on one device; validate() checks shapes.
  Decoder(ModelConfig config, DecoderWeights weights);

  const ModelConfig& config() const { return config_; }
  const DecoderWeights& weights() const { return weights_; }
  at::ScalarType dtype() const { return weights_.embed_tokens.scalar_type(); }
  at::Device device() const { return weights_.embed_tokens.device(); }
  // Converts all weights (dtype and/or device).
  void to(at::Device device, at::ScalarType dtype);

  // Not owned; nullptr detaches. Called in every layer of every forward. The hook is why one
  // Decoder serves one thread at a time: threads take copies, which share the weights (never
  // written after loading) and the rotary tables (experiments/parallel_samples.h).
  void set_attention_hook(AttentionHook* hook) { hook_ = hook; }
  AttentionHook* attention_hook() const { return hook_; }

  // Not owned; nullptr detaches (core/model/finite_guard.h). When set, every forward notes each
  // layer's attention output (per head) and hidden state and the logits on it, passes it to the
  // hook, and checks it once at the end: one device -> host copy per forward.
  void set_finite_guard(FiniteGuard* guard) { guard_ = guard; }
  FiniteGuard* finite_guard() const { return guard_; }

  const RotaryEmbedding& rotary() const { return rotary_; }
  KVCache new_cache() const { return KVCache(config_.num_hidden_layers); }

  // tokens [B, S] int64 (any device): one chunk appended after the cache's contents. Returns
  // float32 logits [B, S, V] (kAll), [B, V] (kLast) or an undefined tensor (kNone).
  at::Tensor forward(const at::Tensor& tokens, KVCache& cache, LogitsMode mode = LogitsMode::kLast);
  // Runs forward() over chunks of at most `chunk_size` tokens; calls hook->begin_sequence() first
  // when the cache is empty. Returns the last position's logits [B, V].
  at::Tensor prefill(const at::Tensor& tokens, KVCache& cache, int64_t chunk_size = 2048);
  // Greedy decoding of one prompt (1-D token ids) with the KV cache; stops at an eos id of the
  // config (or `stop_ids` when given) and returns the new tokens only.
  std::vector<int64_t> generate_greedy(const std::vector<int64_t>& prompt, int64_t max_new_tokens,
                                       int64_t chunk_size = 2048,
                                       const std::vector<int64_t>& stop_ids = {});

  // Final hidden states -> float32 logits (used by perplexity to go chunk by chunk).
  at::Tensor logits(const at::Tensor& hidden) const;

 private:
  at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight) const;
  // cos / sin [S, rotary dim] of the chunk's positions, in x's dtype.
  at::Tensor attention_block(int64_t layer, const at::Tensor& x, KVCache& cache,
                             const at::Tensor& cos, const at::Tensor& sin, int64_t q_offset);
  at::Tensor mlp_block(int64_t layer, const at::Tensor& x) const;
  void validate() const;

  ModelConfig config_;
  DecoderWeights weights_;
  RotaryEmbedding rotary_;
  AttentionHook* hook_ = nullptr;
  FiniteGuard* guard_ = nullptr;
};

// Attaches `hook` to `model` for one scope and detaches it however the scope ends, so a failed
// prefill never leaves the model sparse for the next caller.
class ScopedAttentionHook {
 public:
  ScopedAttentionHook(Decoder& model, AttentionHook* hook) : model_(model) {
    model_.set_attention_hook(hook);
  }
  ~ScopedAttentionHook() { model_.set_attention_hook(nullptr); }
  ScopedAttentionHook(const ScopedAttentionHook&) = delete;
  ScopedAttentionHook& operator=(const ScopedAttentionHook&) = delete;

 private:
  Decoder& model_;
};

}  // namespace seer::core
