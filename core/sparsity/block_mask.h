// Block-mask geometry and the elementary mask builders every sparsity policy shares
// (DESIGN.md §4). A block mask is bool [B, Hq, nbq, nbk], true = compute this b x b tile. Query
// block i of a call sits at absolute block q_block_offset + i (chunked prefill, bottom-right
// causal alignment as in kernels/attention.h); key block j at j.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include <cstdint>
#include <optional>

namespace seer::config {
class ConfigReader;
}

namespace seer::core {

struct BlockGeometry {
  int64_t batch = 1;
  int64_t heads = 1;           // Hq
  int64_t block = 64;          // b
  int64_t sq = 0;              // query rows of this call
  int64_t sk = 0;              // keys (cache including this chunk)
  std::optional<at::Tensor> seq_lens;  // padded batches [B] (then sq == sk)
  at::Device device = at::kCPU;

  int64_t nbq() const { return (sq + block - 1) / block; }
  int64_t nbk() const { return (sk + block - 1) / block; }
  int64_t q_block_offset() const { return (sk - sq) / block; }

  // Geometry of q [B, Sq, Hq, D] against k [B, Sk, Hkv, D]; checks (Sk - Sq) % b == 0.
  static BlockGeometry of(const at::Tensor& q, const at::Tensor& k, int64_t block,
                          const std::optional<at::Tensor>& seq_lens = std::nullopt);
};

// Valid key blocks per sequence [B] int64 (nbk, or ceil(len / b) for padded batches).
at::Tensor valid_key_blocks(const BlockGeometry& geo);

// The causal, valid region [B, 1, nbq, nbk] bool: key block j <= absolute query block, both inside
// the sequence. Every mask is ANDed with it; sparsity counts are relative to it.
at::Tensor causal_block_mask(const BlockGeometry& geo);

// Options every policy accepts (DESIGN.md §4).
struct MaskOptions {
  bool keep_diagonal = true;    // always on for policies; off only to test the raw selection
  bool keep_sink = false;       // always keep key block 0
  int64_t dense_last_rows = 0;  // the last n query-block rows of each sequence stay dense
};

// raw [B or 1, Hq or 1, nbq, nbk] bool -> [B, Hq, nbq, nbk]: AND causal, then diagonal, sink and
// dense last rows added (inside the causal region only).
at::Tensor finalize_block_mask(const at::Tensor& raw, const BlockGeometry& geo,
                               const MaskOptions& opts);

// scores > tau, inside the causal region.
at::Tensor mask_from_threshold(const at::Tensor& scores, const BlockGeometry& geo, double tau);

// Per row the highest-scoring causal blocks: k of them when k > 0, else
// max(1, round(keep_ratio * causal blocks of the row)) (round half to even). Ties go to the lower
// block index.
at::Tensor mask_from_topk(const at::Tensor& scores, const BlockGeometry& geo, int64_t k,
                          double keep_ratio);

// Per row the `keep` highest-scoring causal blocks, keep [B or 1, 1 or Hq, nbq, 1] int64 (at most
// the row's causal blocks). Ties go to the lower block index.
at::Tensor mask_from_topk_counts(const at::Tensor& scores, const BlockGeometry& geo,
                                 const at::Tensor& keep);

// Reads a block size key (`key`, default `fallback`): one of the block-sparse kernel's tile sizes
// 16 | 32 | 64 | 128, else a config error naming the key.
int64_t read_block_size(const config::ConfigReader& r, const std::string& key, int64_t fallback);

}  // namespace seer::core
