// Per-layer key/value cache for chunked prefill and decoding. Buffers grow geometrically so a
// long prefill in chunks copies each key O(1) times on average instead of re-concatenating.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace seer::core {

class KVCache {
 public:
  KVCache() = default;
  explicit KVCache(int64_t num_layers) : k_(num_layers), v_(num_layers), len_(num_layers, 0) {}

  int64_t num_layers() const { return static_cast<int64_t>(k_.size()); }
  // Tokens cached so far (layer 0; all layers agree between forwards).
  int64_t length() const { return len_.empty() ? 0 : len_[0]; }
  // Appends k/v [B, S, Hkv, D] to `layer` and returns views of the whole cache [B, L, Hkv, D].
  std::pair<at::Tensor, at::Tensor> append(int64_t layer, const at::Tensor& k, const at::Tensor& v);
  void clear();

 private:
  std::vector<at::Tensor> k_, v_;   // [B, capacity, Hkv, D]
  std::vector<int64_t> len_;
};

}  // namespace seer::core
