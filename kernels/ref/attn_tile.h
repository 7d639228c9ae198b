// The engine of the CPU reference: one query tile (the g query heads of one KV head, up to
// kTileRows rows of one sequence) against the keys it can see, streamed in chunks of
// kKeyChunk keys with an online softmax, so memory stays O(g * kTileRows * kKeyChunk) whatever
// the sequence length. Dense and max-pool attention differ only in the options (block-sparse
// gathers its kept blocks instead, kernels/ref/block_sparse_attn_ref.cpp).
#pragma once

#include "kernels/attention.h"
#include "kernels/seq_spans.h"

#include <ATen/core/Tensor.h>

#include <functional>
#include <vector>

namespace seer::kernels::ref {

// 128 rows x 1024 keys: big enough that the tile matmuls run near BLAS speed, small enough that
// g = 8 heads in float64 take 8 MiB per worker.
constexpr int64_t kTileRows = 128;   // a multiple of every block size
constexpr int64_t kKeyChunk = 1024;  // a multiple of every block size

struct TileTask {
  SeqSpan seq;
  int64_t kv_head = 0;
  int64_t row0 = 0;   // first query row, relative to the sequence
  int64_t rows = 0;
};

// All tiles of all (sequence, KV head) pairs, the most expensive first (so the workers finish
// together when causal tiles differ in cost).
std::vector<TileTask> make_tile_tasks(const std::vector<SeqSpan>& spans, int64_t Hkv,
                                      bool causal);

// Runs fn(0..n-1). Built with OpenMP (-fopenmp on seer_kernels): at::get_num_threads() workers
// pull tasks from a shared counter (at::parallel_for; the first exception is rethrown). Without
// it: in order on the calling thread, each ATen op parallel inside (see attn_tile.cpp).
void run_tasks(int64_t n, const std::function<void(int64_t)>& fn);

struct TileInputs {
  at::Tensor q;             // [g, T, D] accumulation dtype, already multiplied by the scale
  at::Tensor k, v;          // [k_len, D]: the sequence's keys and values, input dtype
  int64_t first_pos = 0;    // absolute key position of query row 0 (row0 + Sk - Sq)
  bool causal = true;
  int64_t block = 0;        // block size, needed with want_block_rowmax
  bool want_block_rowmax = false;
};

struct TileResult {
  at::Tensor out;           // [g, T, D] accumulation dtype, normalised; 0 for empty rows
  at::Tensor lse;           // [g, T] natural log sum-exp of the scaled scores; -inf for empty rows
  at::Tensor m, l;          // [g, T] final running max (0 for empty rows) and normaliser
  at::Tensor block_rowmax;  // [g, T, ceil(k_len / block)] max raw scaled score per key block
};

TileResult attend_tile(const TileInputs& in);

// The tile's query rows as [g, T, D] in the accumulation dtype, times the scale.
at::Tensor load_query_tile(const at::Tensor& q, const TileTask& task, int64_t g,
                           at::ScalarType acc, double scale);

// Writes a tile's output rows (and lse when defined) into out [B, Sq, Hq, D] / lse [B, Hq, Sq].
void store_tile(const TileTask& task, int64_t g, const TileResult& r, at::Tensor& out,
                at::Tensor& lse);

// float64 with opts.reference_float64 or float64 inputs, float32 otherwise.
inline at::ScalarType accumulation_dtype(const AttnOptions& opts, at::ScalarType input) {
  return opts.reference_float64 || input == at::kDouble ? at::kDouble : at::kFloat;
}

}  // namespace seer::kernels::ref
