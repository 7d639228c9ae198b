// Rotary position embeddings for every RoPE kind the models use (default, linear, dynamic-NTK,
// llama3, YaRN), computed exactly as transformers' modeling_rope_utils.py does (float32 ops in the
// same order), plus partial rotary: only the first d = rotary dim channels of a head rotate.
// The gates reuse this to apply the model's RoPE at their own dimension.
#pragma once

#include "core/model/model_config.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <mutex>

namespace seer::core {

struct RopeFrequencies {
  at::Tensor inv_freq;            // [d / 2] float32, CPU
  double attention_scaling = 1.0; // multiplies cos and sin (YaRN's mscale; 1 otherwise)
};

// Inverse frequencies for rotary dim `d`. `seq_len` only matters for dynamic-NTK (the length the
// current forward reaches, max position + 1); transformers uses max(seq_len, max_positions).
RopeFrequencies rope_frequencies(const RopeConfig& rope, int64_t d, int64_t max_position_embeddings,
                                 int64_t seq_len = 0);

class RotaryEmbedding {
 public:
  RotaryEmbedding() = default;
  // Rotary dim d (even); the model uses ModelConfig::rotary_dim(), the gates their own.
  RotaryEmbedding(const RopeConfig& rope, int64_t d, int64_t max_position_embeddings);

  int64_t dim() const { return d_; }
  // cos and sin [S, d] for absolute `positions` [S] (int64), in `dtype` on `device`, already
  // multiplied by the attention scaling. Layout [f, f] as transformers' rotate_half expects.
  std::pair<at::Tensor, at::Tensor> cos_sin(const at::Tensor& positions, at::ScalarType dtype) const;
  // x [B, S, H, D] with D >= d: rotates channels [0, d) and keeps the rest, positions [S].
  at::Tensor apply(const at::Tensor& x, const at::Tensor& positions) const;

 private:
  RopeConfig rope_;
  int64_t d_ = 0;
  int64_t max_positions_ = 0;
  RopeFrequencies base_;   // for non-dynamic kinds and dynamic within max_positions
  // base_.inv_freq on the device of the last call's positions. A copy from pageable host memory
  // makes libtorch wait for the whole stream, and cos_sin runs once per forward (and twice more
  // in each layer's gate), so copying every call drained the GPU's queue several times a layer.
  // Filled lazily by cos_sin under the mutex: copies of this object (one Decoder per worker
  // thread) and the gates shared by those threads use it concurrently. The fill is a blocking
  // copy, so the tensor is complete on the device before any stream can read it.
  struct DeviceInvFreq {
    std::mutex mutex;
    at::Tensor inv_freq;
  };
  std::shared_ptr<DeviceInvFreq> on_device_ = std::make_shared<DeviceInvFreq>();
};

// x [B, S, H, D], cos/sin [S, d] in x's dtype: x[..., :d] * cos + rotate_half(x[..., :d]) * sin.
at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace seer::core
