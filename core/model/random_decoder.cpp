#include "core/model/random_decoder.h"

#include <ATen/ATen.h>

namespace seer::core {
namespace {

constexpr double kInitStd = 0.02;

}  // namespace

Decoder random_decoder(const ModelConfig& shape, at::ScalarType dtype, at::Device device,
                       int64_t seed) {
  shape.validate("random model shape");
  at::manual_seed(static_cast<uint64_t>(seed));
  const auto opts = at::TensorOptions().dtype(dtype).device(device);
  auto normal = [&](int64_t rows, int64_t cols) {
    return at::empty({rows, cols}, opts).normal_(0.0, kInitStd);
  };
  const int64_t H = shape.hidden_size, D = shape.head_dim, I = shape.intermediate_size;
  const int64_t q_out = shape.num_attention_heads * D, kv_out = shape.num_key_value_heads * D;

  DecoderWeights w;
  w.embed_tokens = normal(shape.vocab_size, H);
  for (int64_t l = 0; l < shape.num_hidden_layers; ++l) {
    DecoderLayerWeights layer;
    layer.input_norm = at::ones({H}, opts);
    layer.q_proj = normal(q_out, H);
    layer.k_proj = normal(kv_out, H);
    layer.v_proj = normal(kv_out, H);
    layer.o_proj = normal(H, q_out);
    layer.post_attention_norm = at::ones({H}, opts);
    layer.gate_proj = normal(I, H);
    layer.up_proj = normal(I, H);
    layer.down_proj = normal(H, I);
    w.layers.push_back(std::move(layer));
  }
  w.final_norm = at::ones({H}, opts);
  ModelConfig config = shape;
  config.tie_word_embeddings = false;
  config.attention_bias = config.o_proj_bias = config.mlp_bias = false;
  w.lm_head = normal(shape.vocab_size, H);
  return Decoder(std::move(config), std::move(w));
}

}  // namespace seer::core
