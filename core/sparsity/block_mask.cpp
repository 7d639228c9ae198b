#include "core/sparsity/block_mask.h"

#include "core/config/config_reader.h"
#include "kernels/topk_block_mask.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

namespace seer::core {
namespace {

at::TensorOptions long_on(const BlockGeometry& geo) {
  return at::TensorOptions().dtype(at::kLong).device(geo.device);
}

// Absolute query block of each row [nbq].
at::Tensor absolute_rows(const BlockGeometry& geo) {
  return at::arange(geo.nbq(), long_on(geo)) + geo.q_block_offset();
}

}  // namespace

BlockGeometry BlockGeometry::of(const at::Tensor& q, const at::Tensor& k, int64_t block,
                                const std::optional<at::Tensor>& seq_lens) {
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4, "BlockGeometry: q and k must be [B, S, H, D], got ",
              q.sizes(), " and ", k.sizes());
  BlockGeometry g;
  g.batch = q.size(0);
  g.heads = q.size(2);
  g.block = block;
  g.sq = q.size(1);
  g.sk = k.size(1);
  g.seq_lens = seq_lens;
  g.device = q.device();
  TORCH_CHECK(g.sk >= g.sq && (g.sk - g.sq) % block == 0, "BlockGeometry: Sk - Sq = ",
              g.sk - g.sq, " must be a non-negative multiple of the block size ", block);
  TORCH_CHECK(!seq_lens || g.sq == g.sk, "BlockGeometry: padded batches need Sq == Sk, got ",
              g.sq, " and ", g.sk);
  return g;
}

at::Tensor valid_key_blocks(const BlockGeometry& geo) {
  if (!geo.seq_lens) return at::full({geo.batch}, geo.nbk(), long_on(geo));
  auto lens = geo.seq_lens->to(long_on(geo));
  return at::div(lens + (geo.block - 1), geo.block, "floor");
}

at::Tensor causal_block_mask(const BlockGeometry& geo) {
  const int64_t nbq = geo.nbq(), nbk = geo.nbk();
  auto rows = absolute_rows(geo).view({1, 1, nbq, 1});
  auto cols = at::arange(nbk, long_on(geo)).view({1, 1, 1, nbk});
  auto valid = valid_key_blocks(geo).view({geo.batch, 1, 1, 1});
  return (cols <= rows).logical_and(rows < valid);  // [B, 1, nbq, nbk]
}

at::Tensor finalize_block_mask(const at::Tensor& raw, const BlockGeometry& geo,
                               const MaskOptions& opts) {
  const int64_t nbq = geo.nbq(), nbk = geo.nbk();
  TORCH_CHECK(raw.dim() == 4 && raw.size(2) == nbq && raw.size(3) == nbk,
              "finalize_block_mask: mask must be [B, Hq, nbq=", nbq, ", nbk=", nbk, "], got ",
              raw.sizes());
  auto causal = causal_block_mask(geo);
  auto mask = raw.to(geo.device, at::kBool).logical_and(causal);
  mask = mask.expand({geo.batch, geo.heads, nbq, nbk}).clone();
  auto rows = absolute_rows(geo).view({1, 1, nbq, 1});
  auto cols = at::arange(nbk, long_on(geo)).view({1, 1, 1, nbk});
  at::Tensor extra = at::zeros({1, 1, nbq, nbk}, at::TensorOptions().dtype(at::kBool).device(geo.device));
  if (opts.keep_diagonal) extra = extra.logical_or(cols == rows);
  if (opts.keep_sink) extra = extra.logical_or(cols == 0);
  if (opts.dense_last_rows > 0) {
    auto valid = valid_key_blocks(geo).view({geo.batch, 1, 1, 1});
    extra = extra.logical_or(rows >= valid - opts.dense_last_rows);
  }
  return mask.logical_or(extra.logical_and(causal));
}

at::Tensor mask_from_threshold(const at::Tensor& scores, const BlockGeometry& geo, double tau) {
  return (scores.to(geo.device) > tau).logical_and(causal_block_mask(geo));
}

at::Tensor mask_from_topk(const at::Tensor& scores, const BlockGeometry& geo, int64_t k,
                          double keep_ratio) {
  auto per_row = causal_block_mask(geo).sum(-1, /*keepdim=*/true);  // [B, 1, nbq, 1] causal blocks
  at::Tensor keep;
  if (k > 0) {
    keep = at::clamp_max(per_row, k);
  } else {
    keep = at::round(per_row.to(at::kDouble) * keep_ratio).to(at::kLong);
    keep = at::minimum(at::clamp_min(keep, 1), per_row);
  }
  return mask_from_topk_counts(scores, geo, keep);
}

at::Tensor mask_from_topk_counts(const at::Tensor& scores, const BlockGeometry& geo,
                                 const at::Tensor& keep) {
  const int64_t nbq = geo.nbq(), nbk = geo.nbk();
  TORCH_CHECK(scores.dim() == 4 && scores.size(2) == nbq && scores.size(3) == nbk,
              "mask_from_topk: scores must be [B, Hq, nbq=", nbq, ", nbk=", nbk, "], got ",
              scores.sizes());
  auto causal = causal_block_mask(geo);
  const at::Tensor keep_d = keep.to(geo.device, at::kLong);
  // On the GPU a radix select per row gives the same mask as the sort below, without the sort.
  if (auto mask = kernels::topk_block_mask(scores.to(geo.device), keep_d, geo.q_block_offset()))
    return *mask;
  auto s = scores.to(geo.device, at::kFloat)
               .masked_fill(causal.logical_not(), -std::numeric_limits<float>::infinity());
  // Stable descending sort: among equal scores the lower block index ranks first.
  auto order = std::get<1>(at::sort(s, /*stable=*/true, /*dim=*/-1, /*descending=*/true));
  auto rank = at::arange(nbk, long_on(geo)).view({1, 1, 1, nbk});
  auto keep_sorted = (rank < keep_d).expand(order.sizes()).contiguous();
  auto mask = at::zeros(order.sizes(), at::TensorOptions().dtype(at::kBool).device(geo.device));
  mask.scatter_(-1, order, keep_sorted);
  return mask.logical_and(causal);
}

int64_t read_block_size(const config::ConfigReader& r, const std::string& key, int64_t fallback) {
  const int64_t b = r.get<int64_t>(key, fallback);
  if (b != 16 && b != 32 && b != 64 && b != 128) {
    r.fail(key, "expected 16 | 32 | 64 | 128 (the block-sparse kernel's tile sizes)");
  }
  return b;
}

}  // namespace seer::core
