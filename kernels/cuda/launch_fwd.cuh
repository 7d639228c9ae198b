// The one place that turns AttnParams into a grid and launches flash_fwd_kernel; the per-mode
// .cu files instantiate it for each dtype, head dim and tile variant.
#pragma once

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/flash_fwd.cuh"
#include "kernels/cuda/launch.h"

#include <stdexcept>
#include <string>

namespace seer::kernels::cuda {

template <typename T, int D, int kWarps, int kMT, FwdMode kMode>
void launch_fwd(const AttnParams& p) {
  using Shape = FwdShape<D, kWarps, kMT>;
  auto* kernel = flash_fwd_kernel<T, D, kWarps, kMT, kMode>;
  // 128-row sparse CTAs keep their merged tile list (one int per key tile) past the tiles.
  constexpr bool kUnion = kMode == FwdMode::kSparse && Shape::kBM == 2 * kSparseBlockRows;
  const int smem_bytes = Shape::kSmemBytes + (kUnion ? 4 * ((p.n_ktiles + 3) / 4 * 4) : 0);
  SEER_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       smem_bytes));
  const int n_qtiles = (p.sq + Shape::kBM - 1) / Shape::kBM;
  if (n_qtiles == 0 || p.head_count == 0 || p.batch == 0) return;
  if (n_qtiles > 65535) throw std::runtime_error("flash_fwd: sequence too long for the grid");
  const dim3 grid(p.head_count, n_qtiles, p.batch);
  kernel<<<grid, Shape::kThreads, smem_bytes, static_cast<cudaStream_t>(p.stream)>>>(p);
  SEER_CUDA_CHECK(cudaGetLastError());
}

// Picks dtype x head dim x variant at run time.
template <FwdMode kMode, int kWarps, int kMT>
void launch_fwd_typed(const AttnParams& p) {
  const bool bf16 = p.dtype == AttnDtype::kBF16;
  if (p.head_dim == 64) {
    bf16 ? launch_fwd<__nv_bfloat16, 64, kWarps, kMT, kMode>(p)
         : launch_fwd<__half, 64, kWarps, kMT, kMode>(p);
  } else if (p.head_dim == 128) {
    bf16 ? launch_fwd<__nv_bfloat16, 128, kWarps, kMT, kMode>(p)
         : launch_fwd<__half, 128, kWarps, kMT, kMode>(p);
  } else {
    throw std::runtime_error("flash_fwd: head dim " + std::to_string(p.head_dim) +
                             " not compiled (64 or 128)");
  }
}

}  // namespace seer::kernels::cuda
