// What the stages' check_inputs() share (stage.h): the checkpoint of the `model` section checked on
// disk, and the lengths a stage asks of it checked against what it can take. `seer run` calls
// check_inputs before it creates anything, so a missing checkpoint or a context longer than the
// model's positions is one error line instead of a run folder holding a failed run, or a
// perplexity computed at positions the model never saw.
#pragma once

#include "core/config/config_reader.h"
#include "core/config/config_tree.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace seer::experiments {

// The longest sequence the `model` section allows: the checkpoint's max_position_embeddings, or
// model.max_context when set (which may go past it, into positions the model was not trained on).
struct ModelLimits {
  std::string path;
  int64_t max_position_embeddings = 0;
  std::optional<int64_t> max_context;
  int64_t max_tokens() const { return max_context.value_or(max_position_embeddings); }
};

// What a stage reads of the model: its shape only (offline distillation: the gates take the
// model's geometry), also its tokenizer, or its weights too.
enum class ModelNeeds { kShape, kTokenizer, kWeights };

// Checks model.path against model.format (gguf: a file; hf: a folder with config.json, and as
// `needs` asks tokenizer.json and model.safetensors or its index) and reads the checkpoint's
// header. ConfigError naming model.path, its value and what is expected; the header reader's
// error, which names the file, when it is no checkpoint.
ModelLimits check_model_inputs(const config::ConfigTree& config,
                               ModelNeeds needs = ModelNeeds::kWeights);

// `tokens`: how long a sequence `key` of `section` has the model take at once (a context, a
// sequence or prompt length). ConfigError naming the key, its value and the model's
// max_position_embeddings when longer than max_tokens(); a line in `warnings` when longer than
// max_position_embeddings but allowed by model.max_context. `what` describes `tokens` in the
// message when it is not the key's value itself (default: "<tokens> tokens").
void check_length_fits(const ModelLimits& model, const config::ConfigReader& section,
                       const std::string& key, int64_t tokens, std::vector<std::string>& warnings,
                       const std::string& what = "");

}  // namespace seer::experiments
