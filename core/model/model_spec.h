// The `model` config section: which checkpoint to load and how.
//   model: {format: gguf, path: assets/models/SmolLM2-135M-Instruct.Q4_1.gguf, dtype: float32,
//           device: cpu, chunk_size: 2048}
#pragma once

#include "core/model/decoder.h"
#include "core/model/model_config.h"
#include "core/model/model_loader.h"
#include "core/tokenizer/bpe_tokenizer.h"

#include <cstdint>
#include <optional>
#include <string>

namespace seer::config {
class ConfigReader;
}

namespace seer::core {

struct ModelSpec {
  std::string name;                 // free text for reports (defaults to the file name)
  std::string format = "gguf";      // gguf | hf
  std::string path;                 // absolute after parsing (resolved against the project root)
  std::string dtype = "float32";    // float32 | bfloat16 | float16
  std::string device = "cpu";       // cpu | cuda
  std::optional<int64_t> max_context;   // overrides max_position_embeddings checks when set
  int64_t chunk_size = 2048;        // prefill chunk
};

// Reads the `model` section (a reader positioned at it) and rejects unknown keys.
ModelSpec parse_model_spec(const config::ConfigReader& r);

at::ScalarType model_dtype(const ModelSpec& spec);
// The device of `model.device`; throws naming the key when it is cuda and no GPU is usable here
// (a CPU-only build or machine), instead of the driver's message from deep inside a kernel call.
at::Device model_device(const ModelSpec& spec);
Decoder load_decoder(const ModelSpec& spec);
// The architecture from the checkpoint's header (GGUF metadata or config.json), without the
// weights: head counts, rotary settings, max_position_embeddings.
ModelConfig load_model_config(const ModelSpec& spec);
// From the GGUF metadata, or tokenizer.json next to an HF checkpoint.
tokenizer::BpeTokenizer load_tokenizer(const ModelSpec& spec);

}  // namespace seer::core
