#include "core/model/model_spec.h"

#include "core/config/config_reader.h"
#include "core/config/paths.h"
#include "core/io/gguf.h"

#include <ATen/Context.h>
#include <fmt/format.h>

#include <filesystem>
#include <stdexcept>

namespace seer::core {

ModelSpec parse_model_spec(const config::ConfigReader& r) {
  ModelSpec s;
  s.format = r.get_choice("format", {"gguf", "hf"});
  const std::string raw_path = r.get<std::string>("path");
  s.path = config::resolve_project_path(raw_path).string();
  s.name = r.get<std::string>("name", std::filesystem::path(raw_path).filename().string());
  s.dtype = r.get_choice("dtype", {"float32", "bfloat16", "float16"}, "float32");
  s.device = r.get_choice("device", {"cpu", "cuda"}, "cpu");
  s.max_context = r.get_optional<int64_t>("max_context");
  s.chunk_size = r.get<int64_t>("chunk_size", 2048);
  if (s.chunk_size <= 0) r.fail("chunk_size", fmt::format("must be positive, got {}", s.chunk_size));
  if (s.max_context && *s.max_context <= 0) r.fail("max_context", "must be positive");
  r.finish();
  return s;
}

at::ScalarType model_dtype(const ModelSpec& spec) {
  if (spec.dtype == "bfloat16") return at::kBFloat16;
  if (spec.dtype == "float16") return at::kHalf;
  return at::kFloat;
}

at::Device model_device(const ModelSpec& spec) {
  // "cuda:N": a rank of a multi-process run on GPU N of its host (World::rank_device).
  if (spec.device.rfind("cuda", 0) != 0) return at::Device(at::kCPU);
  if (!at::hasCUDA()) {
    throw std::runtime_error(
        "model.device = cuda, but no CUDA GPU is usable here (a CPU-only machine or libtorch "
        "build); run on the GPU machine, or set model.device=cpu (SEER_DEVICE=cpu for the "
        "experiments that read it)");
  }
  return at::Device(spec.device);
}

Decoder load_decoder(const ModelSpec& spec) {
  LoadOptions opts;
  opts.dtype = model_dtype(spec);
  opts.device = model_device(spec);
  Decoder model =
      spec.format == "gguf" ? load_gguf_decoder(spec.path, opts) : load_hf_decoder(spec.path, opts);
  check_weights_finite(model.weights(), spec.path);
  return model;
}

ModelConfig load_model_config(const ModelSpec& spec) {
  if (spec.format == "hf")
    return load_hf_model_config((std::filesystem::path(spec.path) / "config.json").string());
  return model_config_from_gguf(io::GgufFile(spec.path));
}

tokenizer::BpeTokenizer load_tokenizer(const ModelSpec& spec) {
  if (spec.format == "gguf") return tokenizer::BpeTokenizer::from_gguf(io::GgufFile(spec.path));
  return tokenizer::BpeTokenizer::from_tokenizer_json(
      (std::filesystem::path(spec.path) / "tokenizer.json").string());
}

}  // namespace seer::core
