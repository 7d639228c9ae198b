// GGUF name map (llama.cpp's tensor names) for the llama and qwen2 architectures. Weights are
// dequantised to float32 first, then converted to the requested dtype, one tensor at a time.
#include "core/io/gguf.h"
#include "core/model/model_loader.h"

#include <ATen/ATen.h>
#include <c10/util/StringUtil.h>
#include <fmt/format.h>

namespace seer::core {

at::Tensor unpermute_rotary_rows(const at::Tensor& w, int64_t n_head) {
  const int64_t rows = w.size(0);
  TORCH_CHECK(rows % (2 * n_head) == 0, "unpermute_rotary_rows: dim 0 = ", rows,
              " is not a multiple of 2 * n_head = ", 2 * n_head);
  std::vector<int64_t> shape = {n_head, rows / n_head / 2, 2};
  for (int64_t d = 1; d < w.dim(); ++d) shape.push_back(w.size(d));
  return w.reshape(shape).transpose(1, 2).reshape(w.sizes()).contiguous();
}

Decoder load_gguf_decoder(const std::string& path, const LoadOptions& opts) {
  io::GgufFile gguf(path);
  return load_gguf_decoder(gguf, opts);
}

Decoder load_gguf_decoder(const io::GgufFile& g, const LoadOptions& opts) {
  const ModelConfig c = model_config_from_gguf(g);
  const int64_t H = c.hidden_size, D = c.head_dim, I = c.intermediate_size;
  const int64_t q_rows = c.num_attention_heads * D, kv_rows = c.num_key_value_heads * D;
  // llama.cpp permutes Q/K only for the llama architecture (qwen2 uses NeoX-style rotary there).
  const bool permuted = c.family == ModelFamily::kLlama;
  auto load = [&](const std::string& name, std::vector<int64_t> shape, int64_t unpermute_heads = 0) {
    at::Tensor t = g.load_float(name);
    if (t.sizes() != at::IntArrayRef(shape)) {
      throw io::FormatError(fmt::format("{}: tensor '{}' has shape {} but the model config needs {}",
                                        g.path(), name, c10::str(t.sizes()),
                                        c10::str(at::IntArrayRef(shape))));
    }
    if (unpermute_heads > 0 && permuted) t = unpermute_rotary_rows(t, unpermute_heads);
    return t.to(opts.device, opts.dtype);
  };
  DecoderWeights w;
  w.embed_tokens = load("token_embd.weight", {c.vocab_size, H});
  w.final_norm = load("output_norm.weight", {H});
  if (!c.tie_word_embeddings) w.lm_head = load("output.weight", {c.vocab_size, H});
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = fmt::format("blk.{}.", l);
    DecoderLayerWeights L;
    L.input_norm = load(p + "attn_norm.weight", {H});
    L.post_attention_norm = load(p + "ffn_norm.weight", {H});
    L.q_proj = load(p + "attn_q.weight", {q_rows, H}, c.num_attention_heads);
    L.k_proj = load(p + "attn_k.weight", {kv_rows, H}, c.num_key_value_heads);
    L.v_proj = load(p + "attn_v.weight", {kv_rows, H});
    L.o_proj = load(p + "attn_output.weight", {H, q_rows});
    if (c.attention_bias) {
      L.q_bias = load(p + "attn_q.bias", {q_rows}, c.num_attention_heads);
      L.k_bias = load(p + "attn_k.bias", {kv_rows}, c.num_key_value_heads);
      L.v_bias = load(p + "attn_v.bias", {kv_rows});
    }
    L.gate_proj = load(p + "ffn_gate.weight", {I, H});
    L.up_proj = load(p + "ffn_up.weight", {I, H});
    L.down_proj = load(p + "ffn_down.weight", {H, I});
    w.layers.push_back(std::move(L));
  }
  return Decoder(c, std::move(w));
}

}  // namespace seer::core
