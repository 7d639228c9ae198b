// Weights of a Llama/Qwen2 decoder as plain tensors in Hugging Face layout ([out, in] linear
// weights). Loaders (hf_loader.cpp, gguf_loader.cpp) fill this; Decoder consumes it.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace seer::core {

struct DecoderLayerWeights {
  at::Tensor input_norm;            // [hidden]
  at::Tensor q_proj, k_proj, v_proj, o_proj;        // [Hq*D, hidden], [Hkv*D, hidden] x2, [hidden, Hq*D]
  at::Tensor q_bias, k_bias, v_bias, o_bias;        // undefined when the family has none
  at::Tensor post_attention_norm;   // [hidden]
  at::Tensor gate_proj, up_proj, down_proj;         // [I, hidden] x2, [hidden, I]
  at::Tensor gate_bias, up_bias, down_bias;         // llama mlp_bias only
};

struct DecoderWeights {
  at::Tensor embed_tokens;          // [V, hidden]
  std::vector<DecoderLayerWeights> layers;
  at::Tensor final_norm;            // [hidden]
  at::Tensor lm_head;               // [V, hidden]; undefined when tied to embed_tokens
};

// Throws (io::check_finite) naming `source`, the tensor ("layers.3.k_proj") and how many of its
// values are NaN or Inf, for the first weight that holds any. One pass over the weights: a model
// file with a corrupt tensor would otherwise give NaN perplexities or, through attention that
// renormalises around them, numbers that look plausible.
void check_weights_finite(const DecoderWeights& w, const std::string& source);

}  // namespace seer::core
