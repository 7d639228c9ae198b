// ModelConfig from config.json (transformers v4 `rope_scaling` or v5 `rope_parameters`) and from
// GGUF metadata (`<arch>.*` keys as llama.cpp's converter writes them).
#include "core/model/model_config.h"

#include "core/io/gguf.h"
#include "core/io/mapped_file.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace seer::core {
namespace {

using nlohmann::json;

RopeKind parse_rope_kind(const std::string& name, const std::string& source) {
  if (name == "default") return RopeKind::kDefault;
  if (name == "linear") return RopeKind::kLinear;
  if (name == "dynamic") return RopeKind::kDynamic;
  if (name == "llama3") return RopeKind::kLlama3;
  if (name == "yarn") return RopeKind::kYarn;
  throw io::FormatError(fmt::format("{}: rope type '{}' is not supported (expected default | linear "
                                    "| dynamic | llama3 | yarn)", source, name));
}

template <typename T>
std::optional<T> optional_field(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return it->get<T>();
}

template <typename T>
T required_field(const json& j, const char* key, const std::string& source) {
  auto v = optional_field<T>(j, key);
  if (!v) throw io::FormatError(fmt::format("{}: required key '{}' is missing", source, key));
  return *v;
}

void read_rope(const json& j, ModelConfig& c, const std::string& source) {
  // v5 writes rope_parameters {rope_type, rope_theta, ...}; v4 writes rope_theta + rope_scaling.
  json params = json::object();
  if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) params = j["rope_parameters"];
  if (j.contains("rope_scaling") && j["rope_scaling"].is_object()) params.update(j["rope_scaling"]);
  RopeConfig& r = c.rope;
  r.theta = optional_field<double>(params, "rope_theta")
                .value_or(optional_field<double>(j, "rope_theta").value_or(10000.0));
  std::string type = optional_field<std::string>(params, "rope_type")
                         .value_or(optional_field<std::string>(params, "type").value_or("default"));
  r.kind = parse_rope_kind(type, source);
  r.partial_rotary_factor = optional_field<double>(params, "partial_rotary_factor")
                                .value_or(optional_field<double>(j, "partial_rotary_factor").value_or(1.0));
  if (r.kind != RopeKind::kDefault) {
    // YaRN may omit the factor (derived below from the position ratio); the others need it.
    r.factor = r.kind == RopeKind::kYarn ? optional_field<double>(params, "factor").value_or(0.0)
                                         : required_field<double>(params, "factor", source + " rope");
  }
  r.low_freq_factor = optional_field<double>(params, "low_freq_factor").value_or(1.0);
  r.high_freq_factor = optional_field<double>(params, "high_freq_factor").value_or(4.0);
  r.original_max_position_embeddings =
      optional_field<int64_t>(params, "original_max_position_embeddings").value_or(c.max_position_embeddings);
  r.attention_factor = optional_field<double>(params, "attention_factor");
  r.beta_fast = optional_field<double>(params, "beta_fast");
  r.beta_slow = optional_field<double>(params, "beta_slow");
  r.mscale = optional_field<double>(params, "mscale");
  r.mscale_all_dim = optional_field<double>(params, "mscale_all_dim");
  r.truncate = optional_field<bool>(params, "truncate").value_or(true);
  if (r.kind == RopeKind::kYarn && r.factor == 0.0) {
    r.factor = static_cast<double>(c.max_position_embeddings) / r.original_max_position_embeddings;
  }
}

}  // namespace

std::string to_string(ModelFamily f) { return f == ModelFamily::kLlama ? "llama" : "qwen2"; }

std::string to_string(RopeKind k) {
  switch (k) {
    case RopeKind::kDefault: return "default";
    case RopeKind::kLinear: return "linear";
    case RopeKind::kDynamic: return "dynamic";
    case RopeKind::kLlama3: return "llama3";
    case RopeKind::kYarn: return "yarn";
  }
  return "?";
}

int64_t ModelConfig::rotary_dim() const {
  return static_cast<int64_t>(static_cast<double>(head_dim) * rope.partial_rotary_factor);
}

void ModelConfig::validate(const std::string& source) const {
  auto fail = [&](const std::string& what) {
    throw io::FormatError(fmt::format("{}: inconsistent model config: {}", source, what));
  };
  if (vocab_size <= 0 || hidden_size <= 0 || num_hidden_layers <= 0 || num_attention_heads <= 0 ||
      num_key_value_heads <= 0 || head_dim <= 0 || intermediate_size <= 0) {
    fail(fmt::format("sizes must be positive (vocab {}, hidden {}, layers {}, heads {}, kv heads {}, "
                     "head_dim {}, intermediate {})", vocab_size, hidden_size, num_hidden_layers,
                     num_attention_heads, num_key_value_heads, head_dim, intermediate_size));
  }
  if (num_attention_heads % num_key_value_heads != 0) {
    fail(fmt::format("num_key_value_heads = {} does not divide num_attention_heads = {}",
                     num_key_value_heads, num_attention_heads));
  }
  const int64_t d = rotary_dim();
  if (d <= 0 || d > head_dim || d % 2 != 0) {
    fail(fmt::format("rotary dim {} (head_dim {} x partial_rotary_factor {}) must be even and in "
                     "(0, head_dim]", d, head_dim, rope.partial_rotary_factor));
  }
}

ModelConfig model_config_from_hf_json(const std::string& json_text, const std::string& source) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {
    throw io::FormatError(fmt::format("{}: invalid JSON: {}", source, e.what()));
  }
  ModelConfig c;
  try {
    const std::string type = required_field<std::string>(j, "model_type", source);
    if (type == "llama" || type == "mistral") {
      c.family = ModelFamily::kLlama;
    } else if (type == "qwen2") {
      c.family = ModelFamily::kQwen2;
    } else {
      throw io::FormatError(fmt::format("{}: model_type '{}' is not supported (expected llama | qwen2)",
                                        source, type));
    }
    c.vocab_size = required_field<int64_t>(j, "vocab_size", source);
    c.hidden_size = required_field<int64_t>(j, "hidden_size", source);
    c.num_hidden_layers = required_field<int64_t>(j, "num_hidden_layers", source);
    c.num_attention_heads = required_field<int64_t>(j, "num_attention_heads", source);
    c.num_key_value_heads =
        optional_field<int64_t>(j, "num_key_value_heads").value_or(c.num_attention_heads);
    c.head_dim = optional_field<int64_t>(j, "head_dim").value_or(c.hidden_size / c.num_attention_heads);
    c.intermediate_size = required_field<int64_t>(j, "intermediate_size", source);
    c.rms_norm_eps = optional_field<double>(j, "rms_norm_eps").value_or(1e-6);
    c.max_position_embeddings = optional_field<int64_t>(j, "max_position_embeddings").value_or(2048);
    c.tie_word_embeddings = optional_field<bool>(j, "tie_word_embeddings").value_or(false);
    if (c.family == ModelFamily::kQwen2) {
      c.attention_bias = true;  // Qwen2 always has q/k/v bias and no o_proj bias
    } else {
      c.attention_bias = optional_field<bool>(j, "attention_bias").value_or(false);
      c.o_proj_bias = c.attention_bias;
      c.mlp_bias = optional_field<bool>(j, "mlp_bias").value_or(false);
    }
    read_rope(j, c, source);
    c.bos_token_id = optional_field<int64_t>(j, "bos_token_id");
    if (j.contains("eos_token_id") && j["eos_token_id"].is_array()) {
      c.eos_token_ids = j["eos_token_id"].get<std::vector<int64_t>>();
    } else if (auto e = optional_field<int64_t>(j, "eos_token_id")) {
      c.eos_token_ids = {*e};
    }
  } catch (const json::exception& e) {
    throw io::FormatError(fmt::format("{}: unexpected value type: {}", source, e.what()));
  }
  c.validate(source);
  return c;
}

ModelConfig load_hf_model_config(const std::string& config_json_path) {
  std::ifstream in(config_json_path);
  if (!in) throw io::FormatError(fmt::format("{}: cannot open model config", config_json_path));
  std::stringstream ss;
  ss << in.rdbuf();
  return model_config_from_hf_json(ss.str(), config_json_path);
}

ModelConfig model_config_from_gguf(const io::GgufFile& g) {
  const std::string arch = g.get_string("general.architecture");
  ModelConfig c;
  if (arch == "llama") {
    c.family = ModelFamily::kLlama;
  } else if (arch == "qwen2") {
    c.family = ModelFamily::kQwen2;
    c.attention_bias = true;
  } else {
    throw io::FormatError(fmt::format("{}: general.architecture '{}' is not supported (expected llama "
                                      "| qwen2)", g.path(), arch));
  }
  const std::string p = arch + ".";
  c.hidden_size = g.get_int(p + "embedding_length");
  c.num_hidden_layers = g.get_int(p + "block_count");
  c.num_attention_heads = g.get_int(p + "attention.head_count");
  c.num_key_value_heads = g.get_int_optional(p + "attention.head_count_kv").value_or(c.num_attention_heads);
  c.head_dim = g.get_int_optional(p + "attention.key_length").value_or(c.hidden_size / c.num_attention_heads);
  c.intermediate_size = g.get_int(p + "feed_forward_length");
  c.rms_norm_eps = g.get_float(p + "attention.layer_norm_rms_epsilon");
  c.max_position_embeddings = g.get_int_optional(p + "context_length").value_or(2048);
  c.rope.theta = g.get_float_optional(p + "rope.freq_base").value_or(10000.0);
  if (auto n_rot = g.get_int_optional(p + "rope.dimension_count")) {
    c.rope.partial_rotary_factor = static_cast<double>(*n_rot) / static_cast<double>(c.head_dim);
  }
  if (g.has(p + "rope.scaling.type")) {
    const std::string type = g.get_string(p + "rope.scaling.type");
    if (type == "linear" || type == "yarn") {
      c.rope.kind = type == "linear" ? RopeKind::kLinear : RopeKind::kYarn;
      c.rope.factor = g.get_float(p + "rope.scaling.factor");
      c.rope.original_max_position_embeddings =
          g.get_int_optional(p + "rope.scaling.original_context_length").value_or(c.max_position_embeddings);
    } else if (type != "none") {
      throw io::FormatError(fmt::format("{}: {}rope.scaling.type '{}' is not supported (expected none "
                                        "| linear | yarn)", g.path(), p, type));
    }
  }
  if (g.find_tensor("rope_freqs.weight") != nullptr) {
    throw io::FormatError(fmt::format("{}: tensor 'rope_freqs.weight' (llama3 rope factors stored as a "
                                      "tensor) is not supported; use the Hugging Face checkpoint",
                                      g.path()));
  }
  const io::GgufTensorInfo* embd = g.find_tensor("token_embd.weight");
  if (embd == nullptr) {
    throw io::FormatError(fmt::format("{}: tensor 'token_embd.weight' is missing", g.path()));
  }
  c.vocab_size = g.get_int_optional(p + "vocab_size").value_or(embd->ne.back());
  c.tie_word_embeddings = g.find_tensor("output.weight") == nullptr;
  c.bos_token_id = g.get_int_optional("tokenizer.ggml.bos_token_id");
  if (auto e = g.get_int_optional("tokenizer.ggml.eos_token_id")) c.eos_token_ids = {*e};
  c.validate(g.path());
  return c;
}

}  // namespace seer::core
