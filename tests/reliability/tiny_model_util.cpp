#include "tiny_model_util.h"

#include "core/gate/safetensors_writer.h"
#include "core/random/splitmix64.h"
#include "core/tokenizer/byte_level.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace fs = std::filesystem;

namespace seer::test {
namespace {

constexpr int64_t kVocab = 257, kHidden = 64, kLayers = 2, kHeads = 4, kKvHeads = 2, kHeadDim = 16,
                  kIntermediate = 128, kEos = 256;

void write_text_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string config_json() {
  const nlohmann::json j = {{"model_type", "llama"},
                            {"vocab_size", kVocab},
                            {"hidden_size", kHidden},
                            {"num_hidden_layers", kLayers},
                            {"num_attention_heads", kHeads},
                            {"num_key_value_heads", kKvHeads},
                            {"head_dim", kHeadDim},
                            {"intermediate_size", kIntermediate},
                            {"rms_norm_eps", 1e-5},
                            {"max_position_embeddings", 4096},
                            {"rope_theta", 10000.0},
                            {"tie_word_embeddings", true},
                            {"eos_token_id", kEos}};
  return j.dump(2) + "\n";
}

// GPT-2's byte-level BPE without merges: token b is byte b.
std::string tokenizer_json() {
  const tokenizer::ByteLevel bytes;
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[bytes.encode(std::string(1, static_cast<char>(b)))] = b;
  vocab["<|endoftext|>"] = kEos;
  const nlohmann::json j = {
      {"added_tokens", {{{"id", kEos}, {"content", "<|endoftext|>"}, {"special", true}}}},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}}};
  return j.dump() + "\n";
}

}  // namespace

fs::path write_tiny_model(const fs::path& dir, uint64_t seed) {
  fs::create_directories(dir);
  at::Generator gen = at::detail::createCPUGenerator(seed);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  auto linear = [&](const std::string& name, int64_t out, int64_t in) {
    tensors.emplace_back(name, at::randn({out, in}, gen) / std::sqrt(static_cast<double>(in)));
  };
  tensors.emplace_back("model.embed_tokens.weight", 0.1 * at::randn({kVocab, kHidden}, gen));
  tensors.emplace_back("model.norm.weight", at::ones({kHidden}));
  for (int64_t l = 0; l < kLayers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    tensors.emplace_back(p + "input_layernorm.weight", at::ones({kHidden}));
    tensors.emplace_back(p + "post_attention_layernorm.weight", at::ones({kHidden}));
    linear(p + "self_attn.q_proj.weight", kHeads * kHeadDim, kHidden);
    linear(p + "self_attn.k_proj.weight", kKvHeads * kHeadDim, kHidden);
    linear(p + "self_attn.v_proj.weight", kKvHeads * kHeadDim, kHidden);
    linear(p + "self_attn.o_proj.weight", kHidden, kHeads * kHeadDim);
    linear(p + "mlp.gate_proj.weight", kIntermediate, kHidden);
    linear(p + "mlp.up_proj.weight", kIntermediate, kHidden);
    linear(p + "mlp.down_proj.weight", kHidden, kIntermediate);
  }
  core::write_safetensors(dir / "model.safetensors", tensors);
  write_text_file(dir / "config.json", config_json());
  write_text_file(dir / "tokenizer.json", tokenizer_json());
  return dir;
}

void write_tiny_text(const fs::path& file, int64_t bytes, uint64_t seed) {
  static const char* const kWords[] = {
      "the", "river", "stone", "quiet", "of", "a", "garden", "light", "and", "morning", "walked",
      "under", "old", "bridge", "she", "said", "nothing", "to", "him", "winter", "came", "early",
      "letters", "from", "town", "were", "read", "aloud", "by", "candle", "in", "hall"};
  constexpr uint64_t kCount = sizeof(kWords) / sizeof(kWords[0]);
  std::string text;
  uint64_t state = seed;
  int64_t in_sentence = 0;
  while (static_cast<int64_t>(text.size()) < bytes) {
    state = core::splitmix64(state);
    if (!text.empty()) text += ' ';
    text += kWords[state % kCount];
    if (++in_sentence >= 4 + static_cast<int64_t>((state >> 32) % 9)) {
      text += '.';
      in_sentence = 0;
    }
  }
  text.resize(static_cast<size_t>(bytes));
  if (file.has_parent_path()) fs::create_directories(file.parent_path());
  write_text_file(file, text);
}

}  // namespace seer::test
