// Measured sparsity (DESIGN.md §4): 1 - kept / causal blocks, accumulated over calls (chunks,
// sequences) per layer and query head, reported per layer, per head and overall. Masks are counted
// inside the causal, valid region only (padding rows and blocks past a sequence do not count).
// add() keeps the counts on the mask's device and reads them back only when a result is asked
// for: a read-back per layer would stall a GPU prefill once per layer.
#pragma once

#include "core/sparsity/block_mask.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace seer::core {

class SparsityStats {
 public:
  // mask [B, Hq, nbq, nbk] bool for `layer`; no device synchronisation.
  void add(int64_t layer, const at::Tensor& mask, const BlockGeometry& geo);
  // Raw counts per head (e.g. from another process or file).
  void add_counts(int64_t layer, const std::vector<int64_t>& kept,
                  const std::vector<int64_t>& causal);
  void merge(const SparsityStats& other);
  void clear();

  bool empty() const { return kept_.empty() && pending_.empty(); }
  int64_t kept_blocks() const;
  int64_t causal_blocks() const;
  double overall() const;                         // 1 - kept / causal over everything (0 if empty)
  std::vector<int64_t> layers() const;            // ascending
  double layer(int64_t layer) const;              // over the layer's heads
  std::vector<double> heads(int64_t layer) const; // per head of the layer
  // {"overall": s, "kept": n, "causal": n, "layers": {"0": {"sparsity": s, "heads": [...]}, ...}}
  std::string to_json() const;

 private:
  // Moves the device-side counts of add() into kept_ / causal_ (one read-back for all layers).
  void flush() const;

  mutable std::map<int64_t, std::vector<int64_t>> kept_;    // layer -> per head
  mutable std::map<int64_t, std::vector<int64_t>> causal_;
  // layer -> [2, Hq] int64 on the masks' device: kept and causal blocks per head, not yet read.
  mutable std::map<int64_t, at::Tensor> pending_;
};

}  // namespace seer::core
