// Helpers shared by the capture and distill stages.
#include "experiments/corpus_tokens.h"
#include "experiments/stages/gate_stages.h"

namespace seer::experiments {

std::vector<int64_t> gate_training_tokens(const config::ConfigTree& config,
                                          const core::ModelSpec& spec, int64_t max_tokens) {
  const auto tok = core::load_tokenizer(spec);
  return split_tokens(config, "train", tok, max_tokens);
}

std::vector<std::vector<int64_t>> gate_token_windows(const config::ConfigTree& config,
                                                     const core::ModelSpec& spec, int64_t length,
                                                     int64_t count) {
  const std::vector<int64_t> ids = gate_training_tokens(config, spec, length * count);
  std::vector<std::vector<int64_t>> windows;
  for (int64_t w = 0; w < count && (w + 1) * length <= static_cast<int64_t>(ids.size()); ++w)
    windows.emplace_back(ids.begin() + w * length, ids.begin() + (w + 1) * length);
  return windows;
}

ModelGateGeometry model_gate_geometry(const core::ModelSpec& spec) {
  const core::ModelConfig mc = core::load_model_config(spec);
  ModelGateGeometry g;
  g.num_layers = mc.num_hidden_layers;
  g.shape = {mc.num_attention_heads, mc.num_key_value_heads, mc.head_dim};
  g.rope.rope = mc.rope;
  g.rope.max_position_embeddings = mc.max_position_embeddings;
  return g;
}

}  // namespace seer::experiments
