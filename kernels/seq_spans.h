// The sequences of an attention call, whatever the batch layout (plain, padded with seq_lens,
// varlen with cu_seqlens): shared by the input checks (kernels/attention_checks.cpp) and the CPU
// reference so both read seq_lens / cu_seqlens the same way.
#pragma once

#include "kernels/attention.h"

#include <cstdint>
#include <vector>

namespace seer::kernels {

// One sequence: query rows [q_start, q_start + q_len) and keys [k_start, k_start + k_len) of
// batch entry `batch` of q and k/v. `seq` is its index in the list (the batch index of outputs
// indexed per sequence: lse for varlen is per row, G and BlockIndex per sequence).
struct SeqSpan {
  int64_t seq = 0;
  int64_t batch = 0;
  int64_t q_start = 0;
  int64_t q_len = 0;
  int64_t k_start = 0;
  int64_t k_len = 0;
  // Causal alignment: query row r sits at absolute key position r + offset() (bottom-right).
  int64_t offset() const { return k_len - q_len; }
};

// Reads seq_lens / cu_seqlens (copied to the host; they are [B] or [B+1]) and checks their values:
// seq_lens in [0, S], cu_seqlens starting at 0, non-decreasing, ending at the total length.
// Shapes and dtypes are checked before, by check_batch_layout().
std::vector<SeqSpan> seq_spans(const at::Tensor& q, const at::Tensor& k, const AttnOptions& opts);

// Padded / plain batches: from the tensor shapes. Varlen: the largest sequence. Used for the
// per-sequence output grids (G, BlockIndex): nb = ceil(len / block).
int64_t max_q_len(const std::vector<SeqSpan>& spans, const at::Tensor& q, const AttnOptions& opts);
int64_t max_k_len(const std::vector<SeqSpan>& spans, const at::Tensor& k, const AttnOptions& opts);

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace seer::kernels
