#include "core/gate/gate_file.h"

#include "core/gate/safetensors_writer.h"
#include "core/io/atomic_file.h"
#include "core/io/check_finite.h"
#include "core/io/json_int.h"
#include "core/io/safetensors.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <stdexcept>

namespace fs = std::filesystem;

namespace seer::core {
namespace {

using json = nlohmann::json;

const char* rope_kind_name(RopeKind k) {
  switch (k) {
    case RopeKind::kDefault: return "default";
    case RopeKind::kLinear: return "linear";
    case RopeKind::kDynamic: return "dynamic";
    case RopeKind::kLlama3: return "llama3";
    case RopeKind::kYarn: return "yarn";
  }
  return "default";
}

RopeKind rope_kind_of(const std::string& s, const std::string& file) {
  for (RopeKind k : {RopeKind::kDefault, RopeKind::kLinear, RopeKind::kDynamic, RopeKind::kLlama3,
                     RopeKind::kYarn})
    if (s == rope_kind_name(k)) return k;
  throw std::runtime_error(fmt::format(
      "{}: rope.kind = '{}': expected default | linear | dynamic | llama3 | yarn", file, s));
}

json rope_to_json(const GateRope& g) {
  const auto& r = g.rope;
  json j = {{"kind", rope_kind_name(r.kind)},
            {"theta", r.theta},
            {"factor", r.factor},
            {"low_freq_factor", r.low_freq_factor},
            {"high_freq_factor", r.high_freq_factor},
            {"original_max_position_embeddings", r.original_max_position_embeddings},
            {"max_position_embeddings", g.max_position_embeddings},
            {"truncate", r.truncate}};
  auto opt = [&](const char* key, const std::optional<double>& v) {
    if (v) j[key] = *v;
  };
  opt("attention_factor", r.attention_factor);
  opt("beta_fast", r.beta_fast);
  opt("beta_slow", r.beta_slow);
  opt("mscale", r.mscale);
  opt("mscale_all_dim", r.mscale_all_dim);
  return j;
}

GateRope rope_from_json(const json& j, const std::string& file) {
  GateRope g;
  auto& r = g.rope;
  r.kind = rope_kind_of(j.at("kind").get<std::string>(), file);
  r.theta = j.at("theta").get<double>();
  r.factor = j.value("factor", 1.0);
  r.low_freq_factor = j.value("low_freq_factor", 1.0);
  r.high_freq_factor = j.value("high_freq_factor", 4.0);
  r.original_max_position_embeddings =
      j.contains("original_max_position_embeddings")
          ? io::json_int(j.at("original_max_position_embeddings"), 0, int64_t{1} << 30,
                         file + ": rope.original_max_position_embeddings")
          : 0;
  r.truncate = j.value("truncate", true);
  g.max_position_embeddings =
      j.contains("max_position_embeddings")
          ? io::json_int(j.at("max_position_embeddings"), 1, int64_t{1} << 30,
                         file + ": rope.max_position_embeddings")
          : 2048;
  auto opt = [&](const char* key, std::optional<double>* v) {
    if (j.contains(key)) *v = j.at(key).get<double>();
  };
  opt("attention_factor", &r.attention_factor);
  opt("beta_fast", &r.beta_fast);
  opt("beta_slow", &r.beta_slow);
  opt("mscale", &r.mscale);
  opt("mscale_all_dim", &r.mscale_all_dim);
  return g;
}

json read_json(const fs::path& path) {
  try {
    return json::parse(io::read_file(path));
  } catch (const json::exception& e) {
    throw std::runtime_error(fmt::format("{}: invalid JSON: {}", path.string(), e.what()));
  }
}

std::vector<std::pair<std::string, at::Tensor>> reference_tensors(const GateSet& gates) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (int64_t l = 0; l < gates.num_layers(); ++l) {
    const auto& gate = gates.layers[l];
    if (!gate.identity_q())
      out.emplace_back(reference_gate_tensor_name(l, true), gate.wq().detach().to(at::kFloat));
    out.emplace_back(reference_gate_tensor_name(l, false), gate.wk().detach().to(at::kFloat));
  }
  return out;
}

// Our gate files also carry the distance biases (GateConfig::distance_buckets), which the
// reference layout has no place for.
std::vector<std::pair<std::string, at::Tensor>> seer_tensors(const GateSet& gates) {
  auto out = reference_tensors(gates);
  for (int64_t l = 0; l < gates.num_layers(); ++l)
    if (gates.layers[l].distance_bias().defined())
      out.emplace_back(distance_bias_tensor_name(l),
                       gates.layers[l].distance_bias().detach().to(at::kFloat));
  return out;
}

// Reads layer tensors until a layer's K map is missing; checks every shape.
std::vector<AttnGate> read_layers(const io::SafetensorsFile& file, const GateConfig& cfg,
                                  const GateShape& shape, const GateRope& rope,
                                  int64_t num_layers) {
  std::vector<AttnGate> layers;
  for (int64_t l = 0; num_layers < 0 || l < num_layers; ++l) {
    const auto k_name = reference_gate_tensor_name(l, false);
    if (!file.has(k_name)) {
      if (num_layers >= 0)
        throw std::runtime_error(fmt::format("{}: tensor '{}' missing", file.path(), k_name));
      break;
    }
    const auto q_name = reference_gate_tensor_name(l, true);
    at::Tensor wq = file.has(q_name) ? file.load(q_name, at::kFloat) : at::Tensor();
    at::Tensor wk = file.load(k_name, at::kFloat);
    // NaN or Inf weights would give NaN scores and silently empty or full masks downstream.
    io::check_finite(wq, fmt::format("{}: layer {}: tensor '{}'", file.path(), l, q_name));
    io::check_finite(wk, fmt::format("{}: layer {}: tensor '{}'", file.path(), l, k_name));
    at::Tensor bias;
    if (cfg.distance_buckets > 0) {
      const auto b_name = distance_bias_tensor_name(l);
      if (!file.has(b_name))
        throw std::runtime_error(fmt::format("{}: tensor '{}' missing (the gates have "
                                             "distance_buckets = {})", file.path(), b_name,
                                             cfg.distance_buckets));
      bias = file.load(b_name, at::kFloat);
      io::check_finite(bias, fmt::format("{}: layer {}: tensor '{}'", file.path(), l, b_name));
    }
    try {
      layers.emplace_back(cfg, shape, rope, wq, wk, bias);
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("{}: layer {} ('{}'): {}", file.path(), l, k_name,
                                           e.what()));
    }
  }
  if (layers.empty())
    throw std::runtime_error(fmt::format("{}: no tensor '{}'", file.path(),
                                         reference_gate_tensor_name(0, false)));
  return layers;
}

// The block RoPE a reference checkpoint was trained with. The reference builds it from a copy of
// the model config with hidden_size = d * heads, and transformers 4.51 takes the rotary dim from
// config.head_dim when the config has one: Llama configs do (D, the first D of d channels rotate),
// Qwen2 configs do not (d). Our exports name theirs in seer_rope_dim. Only matters when D != d.
std::string reference_rope_dim(const json& j, int64_t head_dim, int64_t hidden_size) {
  if (j.contains("seer_rope_dim")) return j.at("seer_rope_dim").get<std::string>();
  if (head_dim == hidden_size) return "hidden_size";
  return j.value("model_type", std::string()) == "llama" ? "head_dim" : "hidden_size";
}

}  // namespace

std::string reference_gate_tensor_name(int64_t layer, bool q_side) {
  return fmt::format("model.layers.{}.self_attn.attn_gate.mask_linear_{}.weight", layer,
                     q_side ? "q" : "k");
}

std::string distance_bias_tensor_name(int64_t layer) {
  return fmt::format("model.layers.{}.self_attn.attn_gate.distance_bias", layer);
}

void save_gates(const GateSet& gates, const fs::path& dir) {
  fs::create_directories(dir);
  json j = {{"format", "seer-gates"},
            {"version", 1},
            {"type", gates.config.type_name()},
            {"block_size", gates.config.block_size},
            {"hidden_size", gates.config.hidden_size},
            {"seed", gates.config.seed},
            {"init_std", gates.config.init_std},
            {"rope_dim", gates.config.rope_dim},
            {"q_subblocks", gates.config.q_subblocks},
            {"distance_buckets", gates.config.distance_buckets},
            {"base_model", gates.base_model},
            {"num_layers", gates.num_layers()},
            {"num_q_heads", gates.shape.num_q_heads},
            {"num_kv_heads", gates.shape.num_kv_heads},
            {"head_dim", gates.shape.head_dim},
            {"identity_q", !gates.layers.empty() && gates.layers[0].identity_q()},
            {"rope", rope_to_json(gates.rope)}};
  // Weights first, config last: a folder with gates.json is complete.
  write_safetensors(dir / "gates.safetensors", seer_tensors(gates),
                    {{"format", "seer-gates"}});
  io::write_file_atomic(dir / "gates.json", j.dump(2) + "\n");
}

GateSet load_gates(const fs::path& dir) {
  const fs::path cfg_path = dir / "gates.json";
  const json j = read_json(cfg_path);
  if (j.value("format", "") != "seer-gates")
    throw std::runtime_error(fmt::format("{}: format = '{}': expected seer-gates",
                                         cfg_path.string(), j.value("format", "")));
  GateSet g;
  try {
    parse_gate_type(j.at("type").get<std::string>(), &g.config.q_pools, &g.config.k_pools);
    g.config.block_size = io::json_int(j.at("block_size"), 1, 1 << 16, cfg_path.string() + ": block_size");
    g.config.hidden_size = io::json_int(j.at("hidden_size"), 2, 1 << 16, cfg_path.string() + ": hidden_size");
    g.config.seed = j.value("seed", int64_t{0});
    g.config.init_std = j.value("init_std", 0.02);
    g.config.rope_dim = j.value("rope_dim", std::string("hidden_size"));
    if (g.config.rope_dim != "hidden_size" && g.config.rope_dim != "head_dim")
      throw std::runtime_error(fmt::format("{}: rope_dim = '{}': expected hidden_size | head_dim",
                                           cfg_path.string(), g.config.rope_dim));
    g.config.q_subblocks = j.value("q_subblocks", int64_t{1});
    if (!valid_q_subblocks(g.config.block_size, g.config.q_subblocks))
      throw std::runtime_error(fmt::format("{}: q_subblocks = {} does not divide block_size {}",
                                           cfg_path.string(), g.config.q_subblocks,
                                           g.config.block_size));
    g.config.distance_buckets = j.value("distance_buckets", int64_t{0});
    if (g.config.distance_buckets < 0 || g.config.distance_buckets == 1 ||
        g.config.distance_buckets > 64)
      throw std::runtime_error(fmt::format("{}: distance_buckets = {}: expected 0 or 2 .. 64",
                                           cfg_path.string(), g.config.distance_buckets));
    g.base_model = j.value("base_model", "");
    g.shape = {io::json_int(j.at("num_q_heads"), 1, 1 << 16, cfg_path.string() + ": num_q_heads"),
               io::json_int(j.at("num_kv_heads"), 1, 1 << 16, cfg_path.string() + ": num_kv_heads"),
               io::json_int(j.at("head_dim"), 1, 1 << 16, cfg_path.string() + ": head_dim")};
    g.rope = rope_from_json(j.at("rope"), cfg_path.string());
  } catch (const json::exception& e) {
    throw std::runtime_error(fmt::format("{}: {}", cfg_path.string(), e.what()));
  }
  io::SafetensorsFile file((dir / "gates.safetensors").string());
  g.layers = read_layers(file, g.config, g.shape, g.rope,
                         io::json_int(j.at("num_layers"), 1, 1 << 16, cfg_path.string() + ": num_layers"));
  return g;
}

void export_reference_gates(const GateSet& gates, const fs::path& dir) {
  if (gates.config.q_subblocks != 1)
    throw std::runtime_error(fmt::format(
        "{}: gates with q_subblocks = {} have no reference layout (its gate scores one pooled "
        "query per block)", dir.string(), gates.config.q_subblocks));
  if (gates.config.distance_buckets != 0)
    throw std::runtime_error(fmt::format(
        "{}: gates with distance_buckets = {} have no reference layout (its gate has no distance "
        "bias)", dir.string(), gates.config.distance_buckets));
  fs::create_directories(dir);
  // The reference builds the identity-Q layout for one Q pooling with d == D unless told
  // otherwise; gates of ours that have a Q map there need force_double.
  const bool identity = !gates.layers.empty() && gates.layers[0].identity_q();
  const bool force_double = !identity && gates.config.q_pools.size() == 1 &&
                            gates.config.hidden_size == gates.shape.head_dim;
  json j = {{"seerattn_gate_type", gates.config.type_name()},
            {"seerattn_gate_block_size", gates.config.block_size},
            {"seerattn_gate_hidden_size", gates.config.hidden_size},
            {"seerattn_gate_force_double", force_double},
            {"seer_rope_dim", gates.config.rope_dim},
            {"base_model", gates.base_model},
            {"num_hidden_layers", gates.num_layers()},
            {"num_attention_heads", gates.shape.num_q_heads},
            {"num_key_value_heads", gates.shape.num_kv_heads},
            {"head_dim", gates.shape.head_dim}};
  write_safetensors(dir / "model.safetensors", reference_tensors(gates), {{"format", "pt"}});
  io::write_file_atomic(dir / "config.json", j.dump(2) + "\n");
}

GateSet import_reference_gates(const fs::path& dir, const GateRope& rope, const GateShape& shape) {
  const fs::path cfg_path = dir / "config.json";
  const json j = read_json(cfg_path);
  GateSet g;
  g.shape = shape;
  g.rope = rope;
  try {
    const std::string type = j.at("seerattn_gate_type").get<std::string>();
    try {
      parse_gate_type(type, &g.config.q_pools, &g.config.k_pools);
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(fmt::format("{}: seerattn_gate_type: {}", cfg_path.string(), e.what()));
    }
    g.config.block_size = io::json_int(j.at("seerattn_gate_block_size"), 1, 1 << 16,
                                       cfg_path.string() + ": seerattn_gate_block_size");
    g.config.hidden_size = io::json_int(j.at("seerattn_gate_hidden_size"), 2, 1 << 16,
                                        cfg_path.string() + ": seerattn_gate_hidden_size");
    g.base_model = j.value("base_model", "");
    g.config.rope_dim = reference_rope_dim(j, shape.head_dim, g.config.hidden_size);
    if (g.config.rope_dim != "hidden_size" && g.config.rope_dim != "head_dim")
      throw std::runtime_error(fmt::format("{}: seer_rope_dim = '{}': expected hidden_size | head_dim",
                                           cfg_path.string(), g.config.rope_dim));
  } catch (const json::exception& e) {
    throw std::runtime_error(fmt::format("{}: {}", cfg_path.string(), e.what()));
  }
  fs::path weights = dir / "model.safetensors";
  if (!fs::exists(weights)) {
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.path().extension() == ".safetensors") {
        weights = entry.path();
        break;
      }
  }
  if (!fs::exists(weights))
    throw std::runtime_error(fmt::format("{}: no .safetensors file with the gate weights",
                                         dir.string()));
  io::SafetensorsFile file(weights.string());
  g.layers = read_layers(file, g.config, g.shape, g.rope, -1);
  return g;
}

}  // namespace seer::core
