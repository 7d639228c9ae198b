// Builds a Decoder from a checkpoint: a Hugging Face folder (config.json + safetensors, single or
// sharded) or a GGUF file (dequantised; llama.cpp's rotary row permutation of Q/K undone).
#pragma once

#include "core/model/decoder.h"

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <string>

namespace seer::io {
class GgufFile;
}

namespace seer::core {

struct LoadOptions {
  at::ScalarType dtype = at::kFloat;
  at::Device device = at::kCPU;
};

Decoder load_hf_decoder(const std::string& checkpoint_dir, const LoadOptions& opts = {});
Decoder load_gguf_decoder(const std::string& gguf_path, const LoadOptions& opts = {});
Decoder load_gguf_decoder(const io::GgufFile& gguf, const LoadOptions& opts = {});

// llama.cpp's convert script permutes Q/K rows per head from [2, D/2] to [D/2, 2] (interleaved
// rotary); this restores the Hugging Face (rotate_half) order. w: [n_head * D, ...].
at::Tensor unpermute_rotary_rows(const at::Tensor& w, int64_t n_head);

}  // namespace seer::core
