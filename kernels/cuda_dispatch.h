// The CUDA side of kernels/attention.h. attention.cpp validates inputs, then calls these for CUDA
// tensors. kernels/cuda_dispatch.cpp implements them by filling AttnParams (kernels/params.h) and
// calling the launchers in kernels/cuda/*.cu; built without SEER_WITH_CUDA they throw.
#pragma once

#include "kernels/attention.h"

namespace seer::kernels::cuda_dispatch {

bool available();   // compiled with CUDA and a device is present
AttnResult attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const AttnOptions& opts);
MaxpoolResult attention_with_block_maxpool(const at::Tensor& q, const at::Tensor& k,
                                           const at::Tensor& v, int64_t block,
                                           const AttnOptions& opts);
AttnResult block_sparse_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                  const BlockIndex& blocks, const AttnOptions& opts);
at::Tensor pool_blocks(const at::Tensor& x, int64_t block, const std::vector<PoolKind>& kinds,
                       const std::optional<at::Tensor>& seq_lens);

}  // namespace seer::kernels::cuda_dispatch
