// Hugging Face name map for Llama and Qwen2 (both use the same module names).
#include "core/io/safetensors.h"
#include "core/model/model_loader.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <filesystem>

namespace seer::core {

Decoder load_hf_decoder(const std::string& dir, const LoadOptions& opts) {
  const ModelConfig c = load_hf_model_config((std::filesystem::path(dir) / "config.json").string());
  io::SafetensorsCheckpoint ckpt(dir);
  const int64_t H = c.hidden_size, D = c.head_dim, I = c.intermediate_size;
  const int64_t q_rows = c.num_attention_heads * D, kv_rows = c.num_key_value_heads * D;
  auto load = [&](const std::string& name, std::vector<int64_t> shape) {
    return ckpt.load(name, shape, opts.dtype).to(opts.device);
  };
  DecoderWeights w;
  w.embed_tokens = load("model.embed_tokens.weight", {c.vocab_size, H});
  w.final_norm = load("model.norm.weight", {H});
  if (!c.tie_word_embeddings) w.lm_head = load("lm_head.weight", {c.vocab_size, H});
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    DecoderLayerWeights L;
    L.input_norm = load(p + "input_layernorm.weight", {H});
    L.post_attention_norm = load(p + "post_attention_layernorm.weight", {H});
    L.q_proj = load(p + "self_attn.q_proj.weight", {q_rows, H});
    L.k_proj = load(p + "self_attn.k_proj.weight", {kv_rows, H});
    L.v_proj = load(p + "self_attn.v_proj.weight", {kv_rows, H});
    L.o_proj = load(p + "self_attn.o_proj.weight", {H, q_rows});
    if (c.attention_bias) {
      L.q_bias = load(p + "self_attn.q_proj.bias", {q_rows});
      L.k_bias = load(p + "self_attn.k_proj.bias", {kv_rows});
      L.v_bias = load(p + "self_attn.v_proj.bias", {kv_rows});
    }
    if (c.o_proj_bias) L.o_bias = load(p + "self_attn.o_proj.bias", {H});
    L.gate_proj = load(p + "mlp.gate_proj.weight", {I, H});
    L.up_proj = load(p + "mlp.up_proj.weight", {I, H});
    L.down_proj = load(p + "mlp.down_proj.weight", {H, I});
    if (c.mlp_bias) {
      L.gate_bias = load(p + "mlp.gate_proj.bias", {I});
      L.up_bias = load(p + "mlp.up_proj.bias", {I});
      L.down_bias = load(p + "mlp.down_proj.bias", {H});
    }
    w.layers.push_back(std::move(L));
  }
  return Decoder(c, std::move(w));
}

}  // namespace seer::core
