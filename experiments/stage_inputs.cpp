#include "experiments/stage_inputs.h"

#include "core/model/model_spec.h"

#include <fmt/format.h>

#include <filesystem>
#include <vector>

namespace fs = std::filesystem;

namespace seer::experiments {
namespace {

constexpr const char* kGgufExpects =
    "model.format = gguf reads one .gguf file (a Hugging Face folder is model.format=hf)";
constexpr const char* kHfExpects =
    "model.format = hf reads a folder holding config.json, tokenizer.json and model.safetensors "
    "(or model.safetensors.index.json)";

// The path as resolved, when the config gave it relative to the project root.
std::string resolved_note(const config::ConfigReader& r, const std::string& resolved) {
  const std::string raw = r.get<std::string>("path");
  return raw == resolved ? "" : fmt::format(" (resolved to {})", resolved);
}

void check_model_path(const config::ConfigReader& r, const core::ModelSpec& spec,
                      ModelNeeds needs) {
  const fs::path path(spec.path);
  const std::string note = resolved_note(r, spec.path);
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (!fs::exists(status)) {
    r.fail("path", fmt::format("cannot open{}: no such file or folder; {}", note,
                               spec.format == "hf" ? kHfExpects : kGgufExpects));
  }
  if (spec.format == "gguf") {
    if (fs::is_directory(status))
      r.fail("path", fmt::format("is a folder{}, not a file; {}", note, kGgufExpects));
    return;
  }
  if (!fs::is_directory(status))
    r.fail("path", fmt::format("is a file{}, not a folder; {} (a .gguf file is model.format=gguf)",
                               note, kHfExpects));
  std::vector<const char*> files = {"config.json"};
  if (needs != ModelNeeds::kShape) files.push_back("tokenizer.json");
  for (const char* name : files) {
    if (!fs::exists(path / name))
      r.fail("path", fmt::format("no {} in this folder{}; {}", name, note, kHfExpects));
  }
  if (needs == ModelNeeds::kWeights && !fs::exists(path / "model.safetensors") &&
      !fs::exists(path / "model.safetensors.index.json"))
    r.fail("path", fmt::format("no model.safetensors or model.safetensors.index.json in this "
                               "folder{}; {}", note, kHfExpects));
}

}  // namespace

ModelLimits check_model_inputs(const config::ConfigTree& config, ModelNeeds needs) {
  const config::ConfigReader r(config, "model");
  const core::ModelSpec spec = core::parse_model_spec(r);
  check_model_path(r, spec, needs);
  ModelLimits limits;
  limits.path = spec.path;
  limits.max_position_embeddings = core::load_model_config(spec).max_position_embeddings;
  limits.max_context = spec.max_context;
  return limits;
}

void check_length_fits(const ModelLimits& model, const config::ConfigReader& section,
                       const std::string& key, int64_t tokens, std::vector<std::string>& warnings,
                       const std::string& what) {
  const std::string length = what.empty() ? fmt::format("{} tokens", tokens) : what;
  const int64_t positions = model.max_position_embeddings;
  if (tokens > model.max_tokens()) {
    if (model.max_context) {
      section.fail(key, fmt::format("{} is longer than model.max_context = {} (the model's "
                                    "max_position_embeddings = {}, {})", length,
                                    *model.max_context, positions, model.path));
    }
    section.fail(key, fmt::format("{} is longer than the model's max_position_embeddings = {} ({}); "
                                  "model.max_context can allow more, at positions the model was "
                                  "not trained on", length, positions, model.path));
  }
  if (tokens > positions) {
    warnings.push_back(fmt::format(
        "{}: {} is longer than the model's max_position_embeddings = {} ({}); model.max_context = "
        "{} allows it, but the model was never trained on positions past {}: expect worse numbers",
        section.path_of(key), length, positions, model.path, *model.max_context, positions));
  }
}

}  // namespace seer::experiments
