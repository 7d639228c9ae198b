// Input checks of kernels/attention.h, shared by the CPU reference and the CUDA path. Every
// failure throws (TORCH_CHECK family) with a message that names the tensor, the dim and the sizes,
// e.g. "k: dim 2 (Hkv) = 6 does not divide Hq = 32".
#pragma once

#include "kernels/attention.h"
#include "kernels/seq_spans.h"

#include <vector>

namespace seer::kernels::checks {

// q, k, v and the batch layout options (seq_lens / cu_seqlens, scale); returns the sequences.
// Rules: 4-D [B, S, H, D]; same device and dtype; CPU takes float32/bfloat16/float16/float64,
// CUDA bfloat16/float16 with D in {64, 128}; the last dim (D) has stride 1; Hq % Hkv == 0;
// causal needs Sq <= Sk per sequence.
std::vector<SeqSpan> check_attention_inputs(const at::Tensor& q, const at::Tensor& k,
                                            const at::Tensor& v, const AttnOptions& opts);

// block in {16, 32, 64, 128}.
void check_block_size(int64_t block);

// (Sk - Sq) % block == 0 for every sequence, so query blocks sit on the key block grid.
void check_chunk_alignment(const std::vector<SeqSpan>& spans, int64_t block,
                           const AttnOptions& opts);

// counts [B, Hq, nbq] and indices [B, Hq, nbq, nbk], int32, contiguous, on q's device, with B the
// number of sequences and nbq / nbk from the (largest) sequence lengths.
void check_block_index(const BlockIndex& blocks, const at::Tensor& q,
                       const std::vector<SeqSpan>& spans, const AttnOptions& opts,
                       const at::Tensor& k);

// pool_blocks: x [B, S, H, D] (dtypes as q), block, non-empty kinds, seq_lens [B] in [0, S].
void check_pool_inputs(const at::Tensor& x, int64_t block, const std::vector<PoolKind>& kinds,
                       const std::optional<at::Tensor>& seq_lens);

}  // namespace seer::kernels::checks
