// Typed configuration of the AttnGates (DESIGN.md §2): which poolings feed the Q and K sides, the
// block size b, the hidden size d and the seed of the initial weights. Parsed from the `gate`
// section (configs/gate/*.yaml); the pooling pair is written the way the reference names its gate
// classes, "Q<kinds>_K<kinds>" with kinds from avg | max | min, e.g. "Qavg_Kmaxminavg".
#pragma once

#include "core/config/config_reader.h"
#include "kernels/attention.h"

#include <cstdint>
#include <string>
#include <vector>

namespace seer::core {

struct GateConfig {
  std::vector<kernels::PoolKind> q_pools = {kernels::PoolKind::kAvg};
  std::vector<kernels::PoolKind> k_pools = {kernels::PoolKind::kMax, kernels::PoolKind::kMin,
                                            kernels::PoolKind::kAvg};
  int64_t block_size = 64;    // b
  int64_t hidden_size = 128;  // d
  int64_t seed = 0;           // initial weights
  double init_std = 0.02;     // N(0, init_std) initial weights, as the reference's initializer_range
  // Dimension of the block RoPE: "hidden_size" rotates all d channels with frequencies of dim d;
  // "head_dim" rotates the first D channels with the model's own dim-D frequencies and leaves
  // [D, d) unrotated (the reference on Llama-family models, docs/distillation.md). Same when D == d.
  std::string rope_dim = "hidden_size";
  // Query sub-blocks s: the Q side pools b/s-token sub-blocks, each scores the key blocks with its
  // own softmax, and a block's P is the renormalised max over its s sub-rows, as G takes the max
  // over a block's query rows (DESIGN.md §1). 1 is the paper's gate (one average per block).
  int64_t q_subblocks = 1;
  // Learned distance bias: n > 0 adds a per-head scalar to every logit, chosen by the block
  // distance (query block - key block) in n buckets (distance_bucket below). Content-free, it lets
  // a head prefer near or far blocks whatever the pooled Q and K say. 0 is the paper's gate (no bias).
  int64_t distance_buckets = 0;

  std::string type_name() const { return gate_type_name(q_pools, k_pools); }
  static std::string gate_type_name(const std::vector<kernels::PoolKind>& q,
                                    const std::vector<kernels::PoolKind>& k);
};

const char* pool_kind_name(kernels::PoolKind kind);   // "avg" | "max" | "min"

// "Qavg_Kmaxmin" -> ({avg}, {max, min}). Throws std::invalid_argument naming the text.
void parse_gate_type(const std::string& text, std::vector<kernels::PoolKind>* q_pools,
                     std::vector<kernels::PoolKind>* k_pools);

// q_subblocks divides block_size and leaves sub-blocks of >= 16 tokens (pool_blocks' sizes).
bool valid_q_subblocks(int64_t block_size, int64_t q_subblocks);

// Bucket of a block distance delta >= 0 among n >= 2 buckets: the first h = n / 2 distances have a
// bucket each (0 .. h-1), then one bucket per octave ([h, 2h) -> h, [2h, 4h) -> h + 1, ...), the
// last bucket taking every longer distance. n = 16 at 64-token blocks separates distances up to
// 128k tokens.
int64_t distance_bucket(int64_t delta, int64_t n);

// Keys: type, block_size, hidden_size, seed, init_std, rope_dim, q_subblocks, distance_buckets
// (unknown keys are errors).
GateConfig parse_gate_config(const config::ConfigReader& r);

}  // namespace seer::core
