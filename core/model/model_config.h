// Architecture hyper-parameters of a Llama- or Qwen2-family decoder, read from a Hugging Face
// config.json or from GGUF metadata. Field names follow config.json.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace seer::io {
class GgufFile;
}

namespace seer::core {

enum class ModelFamily { kLlama, kQwen2 };
enum class RopeKind { kDefault, kLinear, kDynamic, kLlama3, kYarn };

std::string to_string(ModelFamily f);
std::string to_string(RopeKind k);

// Rotary parameters, as transformers' rope_parameters / rope_scaling hold them.
struct RopeConfig {
  RopeKind kind = RopeKind::kDefault;
  double theta = 10000.0;
  double partial_rotary_factor = 1.0;
  double factor = 1.0;                           // linear, dynamic, llama3, yarn
  double low_freq_factor = 1.0;                  // llama3
  double high_freq_factor = 4.0;                 // llama3
  int64_t original_max_position_embeddings = 0;  // llama3, yarn
  std::optional<double> attention_factor;        // yarn
  std::optional<double> beta_fast, beta_slow;    // yarn (defaults 32 / 1)
  std::optional<double> mscale, mscale_all_dim;  // yarn
  bool truncate = true;                          // yarn
};

struct ModelConfig {
  ModelFamily family = ModelFamily::kLlama;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;      // Hq
  int64_t num_key_value_heads = 0;      // Hkv
  int64_t head_dim = 0;                 // D
  int64_t intermediate_size = 0;
  double rms_norm_eps = 1e-6;
  int64_t max_position_embeddings = 2048;
  bool tie_word_embeddings = false;
  bool attention_bias = false;          // bias on q/k/v (and o for llama's attention_bias)
  bool o_proj_bias = false;
  bool mlp_bias = false;
  RopeConfig rope;
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;

  int64_t rotary_dim() const;           // d: int(head_dim * partial_rotary_factor)
  // Throws std::invalid_argument naming the field when sizes are inconsistent.
  void validate(const std::string& source) const;
};

// Parses a Hugging Face config.json (model_type llama | qwen2 | mistral-style llama).
ModelConfig model_config_from_hf_json(const std::string& json_text, const std::string& source);
ModelConfig load_hf_model_config(const std::string& config_json_path);
// From GGUF metadata (general.architecture llama | qwen2).
ModelConfig model_config_from_gguf(const io::GgufFile& gguf);

}  // namespace seer::core
