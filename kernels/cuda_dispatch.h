// The CUDA side of kernels/attention.h. attention.cpp validates inputs, then calls these for CUDA
// tensors. kernels/cuda_dispatch.cpp implements them by filling AttnParams (kernels/params.h) and
// calling the launchers in kernels/cuda/*.cu; built without SEER_WITH_CUDA they throw.
#pragma once

#include "kernels/attention.h"

namespace seer::kernels::cuda_dispatch {

bool available();   // compiled with CUDA and a device is present
// SEER_POISON_OUTPUTS=1 (the GPU tests): outputs start as NaN / an impossible value, so an element
// a kernel does not write fails the comparison (at::empty often hands back the last test's values).
bool poison_outputs();
AttnResult attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const AttnOptions& opts);
MaxpoolResult attention_with_block_maxpool(const at::Tensor& q, const at::Tensor& k,
                                           const at::Tensor& v, int64_t block,
                                           const AttnOptions& opts);
AttnResult block_sparse_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                  const BlockIndex& blocks, const AttnOptions& opts);
at::Tensor pool_blocks(const at::Tensor& x, int64_t block, const std::vector<PoolKind>& kinds,
                       const std::optional<at::Tensor>& seq_lens);
// Index lists of a validated bool mask [B, Hq, nbq, nbk]: query block i keeps key block j only
// if j <= i + causal_offset (block_index_from_mask's causal drop).
BlockIndex block_index_from_mask(const at::Tensor& mask, int64_t block, int64_t causal_offset);

}  // namespace seer::kernels::cuda_dispatch
