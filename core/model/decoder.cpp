// Forward pass, written to match transformers' LlamaModel / Qwen2Model op for op (RMSNorm in
// float32 then cast, cos/sin cast to the model dtype before rotating) so fp32 logits agree to
// ~1e-6 relative. Attention never loops here: kernels::attention or the hook does it.
#include "core/model/decoder.h"

#include "core/model/finite_guard.h"
#include "core/model/linear.h"
#include "kernels/attention.h"

#include <ATen/ATen.h>
#include <c10/util/StringUtil.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <tuple>

namespace seer::core {
namespace {

void check_shape(const at::Tensor& t, std::vector<int64_t> shape, const std::string& name) {
  if (!t.defined()) throw std::invalid_argument(fmt::format("decoder weight '{}' is missing", name));
  if (t.sizes() != at::IntArrayRef(shape)) {
    throw std::invalid_argument(fmt::format("decoder weight '{}' has shape {}, the config needs {}",
                                            name, c10::str(t.sizes()), c10::str(at::IntArrayRef(shape))));
  }
}

}  // namespace

Decoder::Decoder(ModelConfig config, DecoderWeights weights)
    : config_(std::move(config)),
      weights_(std::move(weights)),
      rotary_(config_.rope, config_.rotary_dim(), config_.max_position_embeddings) {
  validate();
}

void Decoder::validate() const {
  const ModelConfig& c = config_;
  const int64_t H = c.hidden_size, D = c.head_dim, I = c.intermediate_size;
  check_shape(weights_.embed_tokens, {c.vocab_size, H}, "embed_tokens");
  check_shape(weights_.final_norm, {H}, "norm");
  if (!c.tie_word_embeddings) check_shape(weights_.lm_head, {c.vocab_size, H}, "lm_head");
  if (static_cast<int64_t>(weights_.layers.size()) != c.num_hidden_layers) {
    throw std::invalid_argument(fmt::format("decoder has {} layers of weights, the config needs {}",
                                            weights_.layers.size(), c.num_hidden_layers));
  }
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const DecoderLayerWeights& w = weights_.layers[l];
    auto n = [l](const char* what) { return fmt::format("layers.{}.{}", l, what); };
    check_shape(w.input_norm, {H}, n("input_layernorm"));
    check_shape(w.post_attention_norm, {H}, n("post_attention_layernorm"));
    check_shape(w.q_proj, {c.num_attention_heads * D, H}, n("q_proj"));
    check_shape(w.k_proj, {c.num_key_value_heads * D, H}, n("k_proj"));
    check_shape(w.v_proj, {c.num_key_value_heads * D, H}, n("v_proj"));
    check_shape(w.o_proj, {H, c.num_attention_heads * D}, n("o_proj"));
    if (c.attention_bias) {
      check_shape(w.q_bias, {c.num_attention_heads * D}, n("q_proj.bias"));
      check_shape(w.k_bias, {c.num_key_value_heads * D}, n("k_proj.bias"));
      check_shape(w.v_bias, {c.num_key_value_heads * D}, n("v_proj.bias"));
    }
    if (c.o_proj_bias) check_shape(w.o_bias, {H}, n("o_proj.bias"));
    check_shape(w.gate_proj, {I, H}, n("gate_proj"));
    check_shape(w.up_proj, {I, H}, n("up_proj"));
    check_shape(w.down_proj, {H, I}, n("down_proj"));
  }
}

void Decoder::to(at::Device device, at::ScalarType dtype) {
  auto conv = [&](at::Tensor& t) {
    if (t.defined()) t = t.to(device, dtype);
  };
  conv(weights_.embed_tokens);
  conv(weights_.final_norm);
  conv(weights_.lm_head);
  for (auto& w : weights_.layers) {
    for (at::Tensor* t : {&w.input_norm, &w.q_proj, &w.k_proj, &w.v_proj, &w.o_proj, &w.q_bias,
                          &w.k_bias, &w.v_bias, &w.o_bias, &w.post_attention_norm, &w.gate_proj,
                          &w.up_proj, &w.down_proj, &w.gate_bias, &w.up_bias, &w.down_bias}) {
      conv(*t);
    }
  }
}

at::Tensor Decoder::rms_norm(const at::Tensor& x, const at::Tensor& weight) const {
  at::Tensor h = x.to(at::kFloat);
  at::Tensor var = h.pow(2).mean(-1, /*keepdim=*/true);
  h = h * at::rsqrt(var + config_.rms_norm_eps);
  return weight * h.to(x.scalar_type());
}

at::Tensor Decoder::attention_block(int64_t layer, const at::Tensor& x, KVCache& cache,
                                    const at::Tensor& cos, const at::Tensor& sin,
                                    int64_t q_offset) {
  const DecoderLayerWeights& w = weights_.layers[layer];
  const int64_t B = x.size(0), S = x.size(1), D = config_.head_dim;
  const int64_t Hq = config_.num_attention_heads, Hkv = config_.num_key_value_heads;
  at::Tensor q_pre = linear(x, w.q_proj, w.q_bias).view({B, S, Hq, D});    // [B, S, Hq, D]
  at::Tensor k_pre = linear(x, w.k_proj, w.k_bias).view({B, S, Hkv, D});   // [B, S, Hkv, D]
  at::Tensor v_new = linear(x, w.v_proj, w.v_bias).view({B, S, Hkv, D});
  at::Tensor q = apply_rotary(q_pre, cos, sin);
  at::Tensor k_new = apply_rotary(k_pre, cos, sin);
  auto [k, v] = cache.append(layer, k_new, v_new);   // [B, L, Hkv, D]
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));

  std::optional<at::Tensor> out;
  if (hook_ != nullptr) {
    LayerAttentionInput in;
    in.layer = layer;
    in.q_offset = q_offset;
    in.scale = scale;
    in.q_pre_rope = q_pre;
    in.k_pre_rope = k_pre;
    in.q = q;
    in.k = k;
    in.v = v;
    in.finite_guard = guard_;
    out = hook_->attend(in);
  }
  if (!out) {
    kernels::AttnOptions opts;
    opts.scale = scale;
    opts.causal = true;
    out = kernels::attention(q, k, v, opts).out;
  }
  TORCH_CHECK(out->sizes() == q.sizes(), "attention output of layer ", layer, " is ", out->sizes(),
              ", expected [B, Sq, Hq, D] = ", q.sizes());
  if (guard_) guard_->note(layer, "attention output", *out, /*head_dim=*/2);
  return linear(out->reshape({B, S, Hq * D}), w.o_proj, w.o_bias);
}

at::Tensor Decoder::mlp_block(int64_t layer, const at::Tensor& x) const {
  const DecoderLayerWeights& w = weights_.layers[layer];
  at::Tensor gate = at::silu(linear(x, w.gate_proj, w.gate_bias));
  return linear(gate * linear(x, w.up_proj, w.up_bias), w.down_proj, w.down_bias);
}

at::Tensor Decoder::logits(const at::Tensor& hidden) const {
  const at::Tensor& head = config_.tie_word_embeddings ? weights_.embed_tokens : weights_.lm_head;
  return linear(hidden, head, at::Tensor()).to(at::kFloat);
}

at::Tensor Decoder::forward(const at::Tensor& tokens, KVCache& cache, LogitsMode mode) {
  TORCH_CHECK(tokens.dim() == 2, "tokens must be [B, S], got ", tokens.sizes());
  TORCH_CHECK(cache.num_layers() == config_.num_hidden_layers, "KV cache has ", cache.num_layers(),
              " layers, the model ", config_.num_hidden_layers);
  const int64_t S = tokens.size(1);
  const int64_t offset = cache.length();
  if (tokens.numel() > 0) {
    // Checked where the ids are: host ids (every decoding step) cost no device round trip and
    // no ops; device ids one read-back of both bounds.
    int64_t lo = 0, hi = 0;
    if (tokens.is_cpu()) {
      const at::Tensor host = tokens.to(at::kLong).contiguous();
      const int64_t* p = host.data_ptr<int64_t>();
      lo = hi = p[0];
      for (int64_t i = 1; i < host.numel(); ++i) {
        lo = std::min(lo, p[i]);
        hi = std::max(hi, p[i]);
      }
    } else {
      const auto [mn, mx] = at::aminmax(tokens.to(at::kLong));
      const at::Tensor both = at::stack({mn, mx}).cpu();
      lo = both.data_ptr<int64_t>()[0];
      hi = both.data_ptr<int64_t>()[1];
    }
    TORCH_CHECK(lo >= 0 && hi < config_.vocab_size, "token ids must be in [0, ", config_.vocab_size,
                "), got [", lo, ", ", hi, "]");
  }
  at::Tensor ids = tokens.to(device(), at::kLong);
  at::Tensor positions = at::arange(offset, offset + S, ids.options());
  // cos / sin depend on the positions and the dtype only: once per forward, not once per layer
  // (a decoding step is launch-bound, and these are ~10 of the ~50 ops of a layer).
  at::Tensor cos, sin;
  if (guard_) guard_->clear();   // flags of a forward that threw before its check
  at::Tensor h = at::embedding(weights_.embed_tokens, ids);   // [B, S, hidden]
  for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    const DecoderLayerWeights& w = weights_.layers[l];
    const at::Tensor x = rms_norm(h, w.input_norm);
    if (!cos.defined() || cos.scalar_type() != x.scalar_type())
      std::tie(cos, sin) = rotary_.cos_sin(positions, x.scalar_type());
    h = h + attention_block(l, x, cache, cos, sin, offset);
    h = h + mlp_block(l, rms_norm(h, w.post_attention_norm));
    if (guard_) guard_->note(l, "hidden state after the MLP", h);
  }
  at::Tensor out;
  if (mode != LogitsMode::kNone) {
    if (mode == LogitsMode::kLast) h = h.select(1, S - 1);
    out = logits(rms_norm(h, weights_.final_norm));
    if (guard_) guard_->note(-1, "logits", out);
  }
  if (guard_) guard_->check(fmt::format("positions [{}, {})", offset, offset + S));
  return out;
}

at::Tensor Decoder::prefill(const at::Tensor& tokens, KVCache& cache, int64_t chunk_size) {
  TORCH_CHECK(tokens.dim() == 2 && tokens.size(1) > 0, "prefill: tokens must be [B, S>0], got ",
              tokens.sizes());
  TORCH_CHECK(chunk_size > 0, "prefill: chunk_size must be positive, got ", chunk_size);
  if (cache.length() == 0 && hook_ != nullptr) hook_->begin_sequence();
  const int64_t S = tokens.size(1);
  at::Tensor last;
  for (int64_t start = 0; start < S; start += chunk_size) {
    const int64_t len = std::min(chunk_size, S - start);
    const bool final_chunk = start + len == S;
    last = forward(tokens.narrow(1, start, len), cache, final_chunk ? LogitsMode::kLast : LogitsMode::kNone);
  }
  return last;
}

std::vector<int64_t> Decoder::generate_greedy(const std::vector<int64_t>& prompt,
                                              int64_t max_new_tokens, int64_t chunk_size,
                                              const std::vector<int64_t>& stop_ids) {
  TORCH_CHECK(!prompt.empty(), "generate_greedy: the prompt is empty");
  const std::vector<int64_t>& stops = stop_ids.empty() ? config_.eos_token_ids : stop_ids;
  KVCache cache = new_cache();
  at::Tensor ids = at::tensor(prompt, at::kLong).unsqueeze(0);
  at::Tensor logits_last = prefill(ids, cache, chunk_size);
  std::vector<int64_t> out;
  for (int64_t step = 0; step < max_new_tokens; ++step) {
    const int64_t next = logits_last.argmax(-1).item<int64_t>();
    out.push_back(next);
    if (std::find(stops.begin(), stops.end(), next) != stops.end()) break;
    if (step + 1 == max_new_tokens) break;
    logits_last = forward(at::tensor({next}, at::kLong).view({1, 1}), cache, LogitsMode::kLast);
  }
  return out;
}

}  // namespace seer::core
