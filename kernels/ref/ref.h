// The plain CPU reference of kernels/attention.h: same signatures, any of float32 / bfloat16 /
// float16 / float64, accumulation in float32 (float64 with opts.reference_float64), output in q's
// dtype. Called by kernels/attention.cpp after the input checks; not meant to be called directly.
// Work is split per (sequence, KV head, query tile) and the S x S map is never built: each tile
// streams the visible keys in chunks with an online softmax (kernels/ref/attn_tile.h).
#pragma once

#include "kernels/attention.h"

namespace seer::kernels::ref {

AttnResult attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const AttnOptions& opts);
MaxpoolResult attention_with_block_maxpool(const at::Tensor& q, const at::Tensor& k,
                                           const at::Tensor& v, int64_t block,
                                           const AttnOptions& opts);
AttnResult block_sparse_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                  const BlockIndex& blocks, const AttnOptions& opts);
at::Tensor pool_blocks(const at::Tensor& x, int64_t block, const std::vector<PoolKind>& kinds,
                       const std::optional<at::Tensor>& seq_lens);

}  // namespace seer::kernels::ref
