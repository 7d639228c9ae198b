// Mask -> index lists for block_sparse_attention, one warp per (batch, head, query block) row.
// Each step the warp reads 32 mask bytes, and a ballot gives every kept column its slot (the kept
// columns before it), so the list comes out ascending without a sort. The rest of the row is
// zeroed: the attention kernels prefetch one entry past a list's end and need a valid index there.
// In ATen ops the same compaction (cumsum + scatter over int64) cost ~5.7 ms per layer at 128k
// (bench/NOTES.md); this reads the mask once and writes the lists once.
#include "kernels/cuda/block_index.h"
#include "kernels/cuda/cuda_check.h"

namespace seer::kernels::cuda {
namespace {

constexpr int kWarpsPerBlock = 8;

__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    block_index_kernel(const BlockIndexParams p) {
  const int lane = threadIdx.x & 31;
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  if (row >= p.rows) return;
  const int i = static_cast<int>(row % p.nbq);
  const int limit = min(p.nbk, i + p.causal_offset + 1);   // columns [0, limit) are visible
  const uint8_t* m = p.mask + row * p.nbk;
  int32_t* out = p.indices + row * p.nbk;
  const unsigned lanes_below = (1u << lane) - 1u;
  int written = 0;
  for (int c0 = 0; c0 < limit; c0 += 32) {
    const int c = c0 + lane;
    const bool keep = c < limit && m[c] != 0;
    const unsigned kept = __ballot_sync(0xffffffffu, keep);
    if (keep) out[written + __popc(kept & lanes_below)] = c;
    written += __popc(kept);
  }
  for (int c = written + lane; c < p.nbk; c += 32) out[c] = 0;
  if (lane == 0) p.counts[row] = written;
}

}  // namespace

void launch_block_index(const BlockIndexParams& p) {
  if (p.rows == 0) return;
  const int64_t blocks = (p.rows + kWarpsPerBlock - 1) / kWarpsPerBlock;
  block_index_kernel<<<static_cast<unsigned>(blocks), kWarpsPerBlock * 32, 0,
                       static_cast<cudaStream_t>(p.stream)>>>(p);
  SEER_CUDA_CHECK(cudaGetLastError());
}

}  // namespace seer::kernels::cuda
