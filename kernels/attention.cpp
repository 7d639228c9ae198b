// The entry points of kernels/attention.h: check the inputs (kernels/attention_checks.h), then run
// the CUDA kernels for CUDA tensors and the CPU reference (kernels/ref/) for CPU tensors.
#include "kernels/attention.h"

#include "kernels/attention_checks.h"
#include "kernels/cuda_dispatch.h"
#include "kernels/ref/ref.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

namespace seer::kernels {

AttnResult attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const AttnOptions& opts) {
  checks::check_attention_inputs(q, k, v, opts);
  if (q.is_cuda()) return cuda_dispatch::attention(q, k, v, opts);
  return ref::attention(q, k, v, opts);
}

MaxpoolResult attention_with_block_maxpool(const at::Tensor& q, const at::Tensor& k,
                                           const at::Tensor& v, int64_t block,
                                           const AttnOptions& opts) {
  const std::vector<SeqSpan> spans = checks::check_attention_inputs(q, k, v, opts);
  checks::check_block_size(block);
  checks::check_chunk_alignment(spans, block, opts);
  if (q.is_cuda()) return cuda_dispatch::attention_with_block_maxpool(q, k, v, block, opts);
  return ref::attention_with_block_maxpool(q, k, v, block, opts);
}

AttnResult block_sparse_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                  const BlockIndex& blocks, const AttnOptions& opts) {
  const std::vector<SeqSpan> spans = checks::check_attention_inputs(q, k, v, opts);
  checks::check_block_index(blocks, q, spans, opts, k);
  if (q.is_cuda()) return cuda_dispatch::block_sparse_attention(q, k, v, blocks, opts);
  return ref::block_sparse_attention(q, k, v, blocks, opts);
}

at::Tensor pool_blocks(const at::Tensor& x, int64_t block, const std::vector<PoolKind>& kinds,
                       const std::optional<at::Tensor>& seq_lens) {
  checks::check_pool_inputs(x, block, kinds, seq_lens);
  if (x.is_cuda()) return cuda_dispatch::pool_blocks(x, block, kinds, seq_lens);
  return ref::pool_blocks(x, block, kinds, seq_lens);
}

BlockIndex block_index_from_mask(const at::Tensor& mask, int64_t block, int64_t sq, int64_t sk) {
  checks::check_block_size(block);
  TORCH_CHECK_VALUE(mask.defined(), "mask: undefined tensor");
  TORCH_CHECK_TYPE(mask.scalar_type() == at::kBool,
                   fmt::format("mask: dtype {} not supported (expected bool)",
                               c10::toString(mask.scalar_type())));
  TORCH_CHECK_VALUE(sq >= 0 && sq <= sk,
                    fmt::format("block_index_from_mask: sq = {}, sk = {}; need 0 <= sq <= sk", sq,
                                sk));
  TORCH_CHECK_VALUE((sk - sq) % block == 0,
                    fmt::format("block_index_from_mask: sk - sq = {} - {} = {} is not a multiple "
                                "of block = {}",
                                sk, sq, sk - sq, block));
  const int64_t nbq = ceil_div(sq, block);
  const int64_t nbk = ceil_div(sk, block);
  TORCH_CHECK_VALUE(mask.dim() == 4 && mask.size(2) == nbq && mask.size(3) == nbk,
                    fmt::format("mask: expected shape [B, Hq, nbq = {}, nbk = {}] (sq = {}, sk = "
                                "{}, block = {}), got [{}]",
                                nbq, nbk, sq, sk, block, fmt::join(mask.sizes(), ", ")));
  BlockIndex index;
  index.block = block;
  const auto long_opts = mask.options().dtype(at::kLong);
  if (nbk == 0) {
    index.counts = at::zeros({mask.size(0), mask.size(1), nbq}, mask.options().dtype(at::kInt));
    index.indices = at::zeros(mask.sizes(), mask.options().dtype(at::kInt));
    return index;
  }
  // Query block i sits at absolute block i + (sk - sq) / block and sees key blocks up to it.
  if (mask.is_cuda() && cuda_kernels_available())
    return cuda_dispatch::block_index_from_mask(mask, block, (sk - sq) / block);
  const at::Tensor rows = at::arange(nbq, long_opts).unsqueeze(1);
  const at::Tensor cols = at::arange(nbk, long_opts).unsqueeze(0);
  const at::Tensor keep = mask.logical_and(cols <= rows + (sk - sq) / block);   // [B, Hq, nbq, nbk]
  index.counts = keep.sum(3, /*keepdim=*/false, at::kInt).contiguous();
  // A compaction, not a sort (this runs in every layer of a sparse prefill; at 128k a row sort
  // of 32 x 2048 x 2048 entries cost more than the sparse attention saved at short lengths):
  // kept block j goes to slot "kept blocks before j", in ascending order by construction; every
  // dropped block goes to a spare slot nbk that is cut off. Slots past counts stay 0, a valid
  // index, so a prefetch past the end stays in range.
  const at::Tensor slot = at::where(keep, keep.cumsum(3, at::kLong) - 1, nbk);
  at::Tensor lists = at::zeros({mask.size(0), mask.size(1), nbq, nbk + 1},
                               mask.options().dtype(at::kInt));
  lists.scatter_(3, slot, cols.to(at::kInt).expand(keep.sizes()).contiguous());
  index.indices = lists.narrow(3, 0, nbk).contiguous();
  return index;
}

bool cuda_kernels_available() { return cuda_dispatch::available(); }

}  // namespace seer::kernels
