// The top-k block mask of core::mask_from_topk as one CUDA kernel (kernels/cuda/topk_mask.cu):
// per row, the `keep` best visible key blocks by score, ties to the lower block. The ATen path
// sorts every row, which at 128k tokens costs more per layer than the index lists and the gate
// together; this is a radix select per row.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>

namespace seer::kernels {

// scores [B, H, nbq, nbk] (any float dtype) on a CUDA device; keep [B or 1, 1, nbq, 1] integer:
// the blocks to keep in each row (at most the row's visible blocks j <= i + causal_offset).
// Returns the bool mask [B, H, nbq, nbk], or nullopt where the kernel does not apply (CPU
// tensors, no CUDA kernels, nbk past cuda::kTopkMaskMaxColumns, counts per head): the caller
// then sorts.
std::optional<at::Tensor> topk_block_mask(const at::Tensor& scores, const at::Tensor& keep,
                                          int64_t causal_offset);

}  // namespace seer::kernels
