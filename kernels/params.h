// Plain parameter structs for the CUDA kernels: pointers, strides and sizes only, so nvcc never
// parses torch headers [FlashAttention]. kernels/cuda_dispatch.cpp fills them from tensors.
#pragma once

#include <cstdint>

namespace seer::kernels {

enum class AttnDtype : int { kF16 = 0, kBF16 = 1 };

// Forward attention over q [B, Sq, Hq, D], k/v [B, Sk, Hkv, D] (strides in elements).
struct AttnParams {
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  void* out = nullptr;            // [B, Sq, Hq, D], dtype of q
  float* lse = nullptr;           // [B, Hq, Sq] natural log; nullptr when not wanted

  int64_t q_batch_stride = 0, q_row_stride = 0, q_head_stride = 0;
  int64_t k_batch_stride = 0, k_row_stride = 0, k_head_stride = 0;
  int64_t v_batch_stride = 0, v_row_stride = 0, v_head_stride = 0;
  int64_t o_batch_stride = 0, o_row_stride = 0, o_head_stride = 0;
  int64_t lse_batch_stride = 0, lse_head_stride = 0;   // lse row stride is 1

  int64_t q_rows = 0, k_rows = 0;   // size of the tensors' row dimension (varlen: the total)
  int batch = 0;
  int sq = 0;          // rows per batch entry (padded: the padded length; varlen: max length)
  int sk = 0;
  int hq = 0;
  int hkv = 0;
  int head_dim = 0;    // 64 or 128
  int head_begin = 0;  // first query head of this launch (the max-pool path splits heads)
  int head_count = 0;  // query heads of this launch
  float scale = 0.f;   // softmax scale (natural units)
  bool causal = true;
  AttnDtype dtype = AttnDtype::kBF16;

  // Unequal lengths. Padded: seq_lens[b] valid rows and keys (Sq == Sk), rows past it zeroed.
  // Varlen: tensors are [1, total, H, D]; sequence b spans [cu_q[b], cu_q[b+1]) of q and
  // [cu_k[b], cu_k[b+1]) of k/v. Device int32 pointers, nullptr when unused.
  const int32_t* seq_lens = nullptr;
  const int32_t* cu_seqlens_q = nullptr;
  const int32_t* cu_seqlens_k = nullptr;

  // Block-sparse: per (b, h, query tile of 64 rows) `tile_counts` kept key tiles of 64 keys,
  // ascending in `tile_indices` ([B, Hq, n_qtiles, n_ktiles] int32). For mask blocks 16/32 the
  // coarse 64-tiles over-cover the mask, and `fine_mask` [B, Hq, nbq, nbk] uint8 (block
  // `fine_block`) masks single elements; nullptr when the tiles are the mask (block 64/128).
  const int32_t* tile_counts = nullptr;
  const int32_t* tile_indices = nullptr;
  int n_qtiles = 0;
  int n_ktiles = 0;
  // Variant H: pairs of query blocks split between two launches (0: off). A plan kernel writes
  // pair_choice [B, Hq, ceil(n_qtiles / 2)] (1: the pair's lists overlap enough); then
  // pair_mode 1 = the 128-row union kernel runs the pairs with 1, 2 = a 64-row kernel the rest.
  int pair_mode = 0;
  uint8_t* pair_choice = nullptr;
  const uint8_t* fine_mask = nullptr;
  int fine_block = 0;
  int fine_nbq = 0;
  int fine_nbk = 0;

  // Max-pool ground truth (DESIGN.md §1) with block `pool_block`: `pool_scratch` holds, per
  // (b, h in this launch, key block, row), the row max of the raw scores (log2 units) over the
  // key block, [B, head_count, pool_nbk, pool_rows]; `pool_out` [B, Hq, pool_nbq, pool_nbk]
  // receives the unnormalised max over rows of exp(rowmax - lse) by atomicMax (zero-filled).
  float* pool_scratch = nullptr;
  int pool_rows = 0;
  float* pool_out = nullptr;
  int pool_block = 0;
  int pool_nbq = 0;
  int pool_nbk = 0;

  void* stream = nullptr;   // cudaStream_t
};

}  // namespace seer::kernels
