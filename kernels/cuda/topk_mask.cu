// Top-k block mask, one CTA per (batch, head, query block) row: keeps the row's `keep` best visible
// columns by score, ties to the lower column, exactly as the stable descending sort of
// core::mask_from_topk does. Instead of sorting, each column gets a unique 64-bit key (the score
// in an order-preserving integer form above the inverted column index), and an 8-pass radix
// select (8 bits a pass, a 256-bin histogram in shared memory) finds the keep-th largest key T;
// the mask is then key >= T. At 128k the sort this replaces cost ~9 ms per layer (bench/NOTES.md).
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/topk_mask.h"

#include <cstdint>

namespace seer::kernels::cuda {
namespace {

constexpr int kThreads = 256;

// Float -> uint32 with the same order (NaN above +inf, as torch's descending sort puts NaN first).
__device__ __forceinline__ uint32_t ordered_bits(float f) {
  uint32_t u = __float_as_uint(f);
  if (f != f) u = 0x7fc00000u;
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__global__ void __launch_bounds__(kThreads) topk_mask_kernel(const TopkMaskParams p) {
  extern __shared__ uint64_t keys[];   // [nbk]
  __shared__ int hist[256];
  __shared__ int chosen_bin, count_above;
  __shared__ bool bin_is_last;

  const int64_t row = blockIdx.x;
  const int i = static_cast<int>(row % p.nbq);
  const int b = static_cast<int>(row / (int64_t(p.heads) * p.nbq));
  const int limit = min(p.nbk, i + p.causal_offset + 1);
  const int keep = min(p.keep[int64_t(b) * p.nbq + i], limit);
  const float* s = p.scores + row * p.nbk;
  uint8_t* out = p.mask + row * p.nbk;
  if (keep <= 0) {
    for (int j = threadIdx.x; j < p.nbk; j += kThreads) out[j] = 0;
    return;
  }
  for (int j = threadIdx.x; j < limit; j += kThreads)
    keys[j] = (uint64_t(ordered_bits(s[j])) << 32) | uint32_t(~uint32_t(j));

  // Radix select of the keep-th largest key, most significant byte first. Keys are unique, so the
  // prefix after 8 passes is that key itself; it stops earlier once the chosen bin is taken whole.
  const int lane = threadIdx.x & 31;
  uint64_t prefix = 0, prefix_mask = 0;
  int remaining = keep;   // how many keys with the current prefix are still to be taken
  const int warp_base = threadIdx.x & ~31;
  for (int shift = 56; shift >= 0; shift -= 8) {
    hist[threadIdx.x] = 0;   // kThreads == 256 bins
    __syncthreads();
    // The first passes see bytes that most keys share (the scores' exponent), so lanes with the
    // same bin add once per warp: one shared atomic per distinct bin instead of one per key.
    for (int j0 = warp_base; j0 < limit; j0 += kThreads) {
      const int j = j0 + lane;
      int bin = -1;
      if (j < limit) {
        const uint64_t k = keys[j];
        if ((k & prefix_mask) == prefix) bin = static_cast<int>((k >> shift) & 255);
      }
      const unsigned peers = __match_any_sync(0xffffffffu, bin);
      if (bin >= 0 && lane == __ffs(peers) - 1) atomicAdd(&hist[bin], __popc(peers));
    }
    __syncthreads();
    if (threadIdx.x < 32) {
      // Lane l holds bins 255 - 8l down to 248 - 8l; an inclusive scan over lanes counts the keys
      // in higher bins, and the first lane to reach `remaining` holds the bin of the k-th key.
      int c = 0;
      for (int t = 0; t < 8; ++t) c += hist[255 - 8 * lane - t];
      int cum = c;
      for (int d = 1; d < 32; d <<= 1) {
        const int up = __shfl_up_sync(0xffffffffu, cum, d);
        if (lane >= d) cum += up;
      }
      const unsigned reached = __ballot_sync(0xffffffffu, cum >= remaining);
      if (lane == __ffs(reached) - 1) {
        int above = cum - c;
        for (int t = 0; t < 8; ++t) {
          const int bin = 255 - 8 * lane - t;
          if (above + hist[bin] >= remaining) {
            chosen_bin = bin;
            count_above = above;
            // Every key left in this bin is taken: the bin's smallest possible key is T.
            bin_is_last = above + hist[bin] == remaining;
            break;
          }
          above += hist[bin];
        }
      }
    }
    __syncthreads();
    remaining -= count_above;
    prefix |= uint64_t(chosen_bin) << shift;
    prefix_mask |= uint64_t(255) << shift;
    const bool done = bin_is_last;
    __syncthreads();   // chosen_bin / count_above / bin_is_last / hist are rewritten next pass
    if (done) break;   // prefix, lower bits zero, is then the threshold (usually after 3-4 passes)
  }
  for (int j = threadIdx.x; j < p.nbk; j += kThreads) out[j] = j < limit && keys[j] >= prefix;
}

}  // namespace

void launch_topk_mask(const TopkMaskParams& p) {
  const int64_t rows = int64_t(p.batch) * p.heads * p.nbq;
  if (rows == 0 || p.nbk == 0) return;
  const size_t smem = size_t(p.nbk) * sizeof(uint64_t);
  topk_mask_kernel<<<static_cast<unsigned>(rows), kThreads, smem,
                     static_cast<cudaStream_t>(p.stream)>>>(p);
  SEER_CUDA_CHECK(cudaGetLastError());
}

}  // namespace seer::kernels::cuda
