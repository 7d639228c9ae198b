// What the distillation trainer consumes: the frozen model's contribution per sequence
// (DistillSample: pooled pre-RoPE Q/K and ground truth G per layer) and a step's samples stacked
// into groups of one shape (DistillBatch), so that each group runs one gate forward per layer with
// a batch dimension instead of one forward per sample. Samples of different lengths, layers,
// heads or pooling layouts land in different groups.
//
// Pooled channels are D wide per pooling kind, in the order `q_kinds` / `k_kinds` name: a capture
// stores avg | max | min (capture_pool_kinds()), a reader may load only the kinds a gate reads.
#pragma once

#include "kernels/attention.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace seer::core {

// The poolings a capture stores, in channel order: avg, max, min.
const std::vector<kernels::PoolKind>& capture_pool_kinds();

// One sequence's worth of training data for the gates.
struct DistillSample {
  std::string id;
  std::vector<int64_t> layers;        // model layers present (gates of other layers get no loss)
  std::vector<at::Tensor> q_pooled;   // per entry of `layers`: [nb * s, Hq, D * |q_kinds|]
  std::vector<at::Tensor> k_pooled;   // [nb, Hkv, D * |k_kinds|]
  std::vector<at::Tensor> g;          // [H_sel, nb, nb] ground truth
  std::vector<int64_t> heads;         // query heads of g (empty = all)
  std::vector<kernels::PoolKind> q_kinds = capture_pool_kinds();
  std::vector<kernels::PoolKind> k_kinds = capture_pool_kinds();
  int64_t tokens = 0;                 // sequence length
};

// Samples of one shape, stacked on a new leading batch axis.
struct DistillGroup {
  std::vector<std::string> ids;       // one per sample, in step order
  std::vector<std::string> files;     // the capture file of each sample; empty when not read
                                      // from files (errors name the sample by id alone)
  int64_t tokens = 0;                 // sequence length of every sample
  std::vector<int64_t> layers;
  std::vector<int64_t> heads;
  std::vector<kernels::PoolKind> q_kinds = capture_pool_kinds();
  std::vector<kernels::PoolKind> k_kinds = capture_pool_kinds();
  std::vector<at::Tensor> q_pooled;   // per entry of `layers`: [B, nb * s, Hq, D * |q_kinds|]
  std::vector<at::Tensor> k_pooled;   // [B, nb, Hkv, D * |k_kinds|]
  std::vector<at::Tensor> g;          // [B, H_sel, nb, nb]

  int64_t size() const { return static_cast<int64_t>(ids.size()); }
  // Samples [first, first + count) of this group (views, no copy).
  DistillGroup slice(int64_t first, int64_t count) const;
};

// One optimiser step's samples.
struct DistillBatch {
  std::vector<DistillGroup> groups;
  int64_t num_samples() const;
  int64_t tokens() const;   // summed over samples
};

// Whether two samples can share a group (same length, layers, heads, layouts and tensor shapes).
bool same_distill_shape(const DistillSample& a, const DistillSample& b);

// Groups `samples` by shape, groups in order of first appearance and samples in step order
// within each. Stacked tensors go to pinned host memory when `pin` (non-blocking copies to a GPU;
// needs a CUDA build of libtorch), else keep the samples' dtype on their device.
DistillBatch group_distill_samples(const std::vector<DistillSample>& samples, bool pin = false);

// From pooled channels [..., D * |have|] laid out as the `have` kinds to the `want` kinds in
// their order (the input itself when the layouts agree). Throws when a wanted kind is missing.
at::Tensor select_pools(const at::Tensor& x, int64_t head_dim,
                        const std::vector<kernels::PoolKind>& have,
                        const std::vector<kernels::PoolKind>& want);

}  // namespace seer::core
