// The one attention API of Seer. Every attention computation in the project goes through here:
// dense causal attention, attention that also returns the block ground truth G (DESIGN.md §1),
// block-sparse attention over a compact block index, and per-block pooling for the gates.
//
// Layout: q [B, Sq, Hq, D], k/v [B, Sk, Hkv, D], Hq % Hkv == 0 (GQA: query head h reads KV head
// h / (Hq / Hkv); K/V are never repeated in memory). Causal masking is aligned bottom-right:
// query row r sits at absolute position r + (Sk - Sq), so a chunk of queries attends to the whole
// KV cache before it (chunked prefill); causal calls need Sq <= Sk (per sequence). Each function
// runs on the tensors' device: the CUDA kernels for bf16/fp16 CUDA tensors (fp32 accumulation,
// D 64 or 128), the plain CPU reference for CPU tensors (fp32/bf16/fp16/fp64, any D). Other
// dtypes are rejected. The last dim (D) of q, k, v must have stride 1; other strides are free.
// Bad inputs throw c10::Error (TORCH_CHECK family) naming the tensor, dim and sizes.
//
// Batches of unequal length, two ways:
//  - padded: tensors [B, S, ...] plus `seq_lens` [B] (int32/int64, CPU or same device); batch b
//    has valid rows/keys [0, seq_lens[b]) (requires Sq == Sk); output rows past it are zero.
//  - varlen: q [1, total_q, Hq, D], k/v [1, total_k, Hkv, D] plus `cu_seqlens_q/k` [B+1] int32
//    prefix sums; each sequence is causal within itself (bottom-right aligned).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace seer::kernels {

struct AttnOptions {
  double scale = 0.0;        // softmax scale; 0 means 1/sqrt(D)
  bool causal = true;
  bool return_lse = false;   // also return the natural-log sum-exp per row
  std::optional<at::Tensor> seq_lens;       // padded batches, [B]
  std::optional<at::Tensor> cu_seqlens_q;   // varlen, [B+1] int32
  std::optional<at::Tensor> cu_seqlens_k;   // varlen, [B+1] int32
  // CPU reference only: accumulate in float64 (tests use it as the ground truth).
  bool reference_float64 = false;
};

struct AttnResult {
  at::Tensor out;   // [B, Sq, Hq, D], dtype of q
  at::Tensor lse;   // [B, Hq, Sq] float32 when return_lse (undefined otherwise); -inf for empty rows
};

// Dense attention.
AttnResult attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const AttnOptions& opts = {});

struct MaxpoolResult {
  at::Tensor out;   // as attention()
  at::Tensor lse;   // as attention() when return_lse
  // G of DESIGN.md §1: [B, Hq, nbq, nbk] float32 with nbq = ceil(Sq/b), nbk = ceil(Sk/b), key
  // blocks on the absolute grid; entries above the causal diagonal are 0; each non-empty row sums
  // to 1. With chunked queries ((Sk - Sq) % b == 0 required) query block i is absolute block
  // i + (Sk - Sq) / b. Padded: nb from the padded length S, rows past seq_lens[b] are 0.
  // Varlen: B = number of sequences, nb from the longest sequence, rows past a sequence 0.
  at::Tensor block_maxpool;
};

// Dense attention that also returns the 2D max-pooled, row-normalised softmax map over b x b
// tiles, in one pass (the S x S map is never materialised).
MaxpoolResult attention_with_block_maxpool(const at::Tensor& q, const at::Tensor& k,
                                           const at::Tensor& v, int64_t block,
                                           const AttnOptions& opts = {});

// Compact block index for block_sparse_attention: for each (batch, query head, query block) the
// number of kept key blocks and their indices in ascending order (no duplicates). nbq / nbk as G
// of MaxpoolResult (varlen: B = number of sequences, nb of the longest one).
struct BlockIndex {
  int64_t block = 64;   // 16, 32, 64 or 128
  at::Tensor counts;    // [B, Hq, nbq] int32
  at::Tensor indices;   // [B, Hq, nbq, nbk] int32; entries past counts[...] are unspecified
};

// Builds the index from a boolean mask [B, Hq, nbq, nbk] (true = compute this tile), on the mask's
// device. Blocks above the causal diagonal are dropped even when the mask keeps them. The mask is
// not changed: callers who want the diagonal kept (the usual policy) set it themselves. Entries
// past counts are 0 (a valid index: the kernels may prefetch one entry past a list's end). Varlen: pass the longest sq and sk; the
// drop uses the one offset (sk - sq) / block for every sequence, so a chunked varlen batch whose
// sequences have different offsets needs an index built another way.
BlockIndex block_index_from_mask(const at::Tensor& mask, int64_t block, int64_t sq, int64_t sk);

// Attention over the kept key blocks only. A query row whose kept blocks hold no visible key
// (e.g. an empty row) outputs zeros and has lse = -inf. The diagonal tile applies the causal mask.
// (Sk - Sq) must be a multiple of the block size.
AttnResult block_sparse_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                  const BlockIndex& blocks, const AttnOptions& opts = {});

enum class PoolKind { kAvg, kMax, kMin };

// Per-block pooling along the sequence for the gates, ceil mode (a partial last block pools the
// rows it has): x [B, S, H, D] -> [B, nb, H, D * kinds.size()], the kinds concatenated on the last
// axis in the given order. Padded batches: `seq_lens` limits each sequence.
at::Tensor pool_blocks(const at::Tensor& x, int64_t block, const std::vector<PoolKind>& kinds,
                       const std::optional<at::Tensor>& seq_lens = std::nullopt);

// True when the CUDA kernels were compiled in and a CUDA device is present.
bool cuda_kernels_available();

}  // namespace seer::kernels
