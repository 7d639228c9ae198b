// The max-pool epilogue shared by the mma.sync kernel (flash_fwd.cuh, FwdMode::kMaxpool) and the
// Hopper wgmma kernel (flash_fwd_wgmma.cuh, maxpool mode): once a warp's rows have their final
// lse, G[i, j] = max over the rows of query block i of exp(rowmax_j - lse), the row maxima per
// key block j read back from p.pool_scratch (log2 units, scaled), contributed by atomicMax.
#pragma once

#include "kernels/params.h"

#include <cuda_runtime.h>

namespace seer::kernels::cuda {

// One warp of kMT m-tiles of 16 rows (rows wrow0 + 16 mt + g + 8 r, mma C layout); lse2 in log2
// units (-inf for rows without keys); n_blocks key blocks were written to the scratch.
// Lane q4 takes key blocks jb = q4 mod 4, kU of them per step with their scratch loads issued
// before any exp2 / atomic (the loads no longer wait one by one behind the atomics); when the
// warp's 16 * kMT rows lie in one query block (pb >= 16 * kMT) their maxima merge before the
// shuffles and a single atomicMax per (block, key block) and warp. kU = 4 for the mma.sync kernel;
// the wgmma kernel (kMT = 1, its registers free once O is written) keeps more loads in flight.
template <int kMT, int kU = 4>
__device__ __forceinline__ void maxpool_emit_warp(const AttnParams& p, const float* pool_scratch,
                                                  int b, int h, int sq, int wrow0, int n_blocks,
                                                  const float (&lse2)[kMT][2], int g, int q4) {
  const int pb = p.pool_block;
  __syncwarp();   // scratch rows were written by lane q4 == 0 of each quad
  float lse_use[kMT][2];   // -inf rows (no key, or past the sequence) read nothing
  bool row_ok[kMT][2];
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int row = wrow0 + mt * 16 + g + 8 * r;
      row_ok[mt][r] = row < sq && lse2[mt][r] != -INFINITY;
      lse_use[mt][r] = row_ok[mt][r] ? lse2[mt][r] : 0.f;
    }
  auto emit = [&](const unsigned mt_mask, const int row0) {
    const int qb = row0 / pb;   // the rows of mt_mask never straddle a block
    float* g_row = p.pool_out + ((static_cast<int64_t>(b) * p.hq + h) * p.pool_nbq + qb) * p.pool_nbk;
    for (int jb0 = 0; jb0 < n_blocks; jb0 += 4 * kU) {
      float raw[kU][kMT][2];
#pragma unroll
      for (int u = 0; u < kU; ++u) {
        const int jb = jb0 + 4 * u + q4;
#pragma unroll
        for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
          for (int r = 0; r < 2; ++r) {
            const int row = wrow0 + mt * 16 + g + 8 * r;
            raw[u][mt][r] = ((mt_mask >> mt) & 1u) && row_ok[mt][r] && jb < n_blocks
                                ? pool_scratch[static_cast<int64_t>(jb) * p.pool_rows + row]
                                : -INFINITY;
          }
      }
#pragma unroll
      for (int u = 0; u < kU; ++u) {
        const int jb = jb0 + 4 * u + q4;
        float v = 0.f;
#pragma unroll
        for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
          for (int r = 0; r < 2; ++r) v = fmaxf(v, exp2f(raw[u][mt][r] - lse_use[mt][r]));
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 4));
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 8));
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 16));
        if (g == 0 && jb < n_blocks && v > 0.f)
          atomicMax(reinterpret_cast<int*>(g_row + jb), __float_as_int(v));
      }
    }
  };
  if (pb >= 16 * kMT) {
    if (wrow0 < sq) emit((1u << kMT) - 1u, wrow0);   // warp-uniform
  } else {
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt)
      if (wrow0 + mt * 16 < sq) emit(1u << mt, wrow0 + mt * 16);
  }
}

}  // namespace seer::kernels::cuda
