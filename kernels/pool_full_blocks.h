// pool_blocks for the common prefill case on the GPU: every block full (S a multiple of the block,
// no padding lengths). The general CUDA path casts x to float32, pads it and masks it before
// reducing, about 5 passes over a tensor that is 1 GB at 128k tokens in every layer; here each
// kind is one reduction over a [B, nb, block, H, D] view, accumulating in float32 without a float32
// copy of x. Plain ATen, so the CPU tests check it against the reference.
#pragma once

#include "kernels/attention.h"

#include <ATen/core/Tensor.h>

#include <optional>
#include <vector>

namespace seer::kernels {

// [B, nb, H, D * |kinds|] in x's dtype, as pool_blocks; nullopt when a block is partial or
// seq_lens is given (the caller then takes the general path).
std::optional<at::Tensor> pool_full_blocks(const at::Tensor& x, int64_t block,
                                           const std::vector<PoolKind>& kinds,
                                           const std::optional<at::Tensor>& seq_lens);

}  // namespace seer::kernels
