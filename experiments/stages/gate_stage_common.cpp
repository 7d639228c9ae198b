// Helpers shared by the capture and distill stages.
#include "core/io/gguf.h"
#include "core/model/model_config.h"
#include "data/text_corpus.h"
#include "experiments/stages/gate_stages.h"

#include <filesystem>

namespace seer::experiments {

std::vector<std::vector<int64_t>> gate_token_windows(const config::ConfigTree& config,
                                                     const core::ModelSpec& spec, int64_t length,
                                                     int64_t count) {
  const auto corpus = data::parse_text_corpus(config::ConfigReader(config, "data"));
  const auto docs = data::load_text_corpus(corpus);
  const auto tok = core::load_tokenizer(spec);
  const int64_t want = length * count;
  std::vector<int64_t> ids;
  for (const auto& d : docs) {
    if (static_cast<int64_t>(ids.size()) >= want) break;
    if (!ids.empty() && tok.eos_id()) ids.push_back(*tok.eos_id());
    // Tokenise only what is needed (~12 bytes per token is generous for English BPE).
    std::string text = d.text;
    const size_t limit = static_cast<size_t>(want - static_cast<int64_t>(ids.size())) * 12 + 64;
    bool cut = false;
    if (limit < text.size()) {
      size_t at = limit;
      while (at > 0 && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) --at;
      text.resize(at);
      cut = true;
    }
    auto piece = tok.encode(text, false);
    if (cut && !piece.empty()) piece.pop_back();
    ids.insert(ids.end(), piece.begin(), piece.end());
  }
  std::vector<std::vector<int64_t>> windows;
  for (int64_t w = 0; w < count && (w + 1) * length <= static_cast<int64_t>(ids.size()); ++w)
    windows.emplace_back(ids.begin() + w * length, ids.begin() + (w + 1) * length);
  return windows;
}

ModelGateGeometry model_gate_geometry(const core::ModelSpec& spec) {
  core::ModelConfig mc;
  if (spec.format == "hf") {
    mc = core::load_hf_model_config((std::filesystem::path(spec.path) / "config.json").string());
  } else {
    mc = core::model_config_from_gguf(io::GgufFile(spec.path));
  }
  ModelGateGeometry g;
  g.num_layers = mc.num_hidden_layers;
  g.shape = {mc.num_attention_heads, mc.num_key_value_heads, mc.head_dim};
  g.rope.rope = mc.rope;
  g.rope.max_position_embeddings = mc.max_position_embeddings;
  return g;
}

}  // namespace seer::experiments
