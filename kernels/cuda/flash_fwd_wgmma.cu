// Launcher of the Hopper wgmma dense kernel (variant 'W', flash_fwd_wgmma.cuh): builds the
// TMA tensor maps of q, k, v and launches. It runs only where the kernel was compiled for
// sm_90a and the device is a Hopper GPU; elsewhere (the generic sm_80 build, head dim 64,
// tensors the copy engine cannot address) it declines and the caller falls back to variant B.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/flash_fwd_wgmma.cuh"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/tma_map.cuh"

#include <stdexcept>

namespace seer::kernels::cuda {

namespace {

// Asked once per device, dtype and mode (tma_map.cuh).
template <typename T, bool kMaxpool = false>
bool wgmma_kernel_usable() {
  static KernelUsableCache known = {};   // 0 unknown, 1 usable, -1 not
  return hopper_kernel_usable(flash_fwd_wgmma_kernel<T, kMaxpool>, known);
}

template <typename T, bool kMaxpool>
bool launch_wgmma(const AttnParams& p) {
  if (!wgmma_kernel_usable<T, kMaxpool>()) return false;
  QkvTensorMaps tm;
  if (!make_qkv_tensor_maps(p, WgShape::kBM, WgShape::kBN, &tm)) return false;
  auto* kernel = flash_fwd_wgmma_kernel<T, kMaxpool>;
  SEER_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       WgShape::kSmemBytes));
  const int n_qtiles = (p.sq + WgShape::kBM - 1) / WgShape::kBM;
  if (n_qtiles == 0 || p.head_count == 0 || p.batch == 0) return true;
  if (n_qtiles > 65535) throw std::runtime_error("flash_fwd_wgmma: sequence too long for the grid");
  const dim3 grid(p.head_count, n_qtiles, p.batch);
  kernel<<<grid, WgShape::kThreads, WgShape::kSmemBytes, static_cast<cudaStream_t>(p.stream)>>>(
      p, tm.q, tm.k, tm.v);
  SEER_CUDA_CHECK(cudaGetLastError());
  return true;
}

}  // namespace

bool attention_dense_wgmma_ready() {
  return wgmma_kernel_usable<__nv_bfloat16>() && wgmma_kernel_usable<__half>();
}

bool launch_attention_dense_wgmma(const AttnParams& p) {
  if (p.head_dim != WgShape::kD) return false;
  return p.dtype == AttnDtype::kBF16 ? launch_wgmma<__nv_bfloat16, false>(p)
                                     : launch_wgmma<__half, false>(p);
}

bool attention_maxpool_wgmma_ready() {
  return wgmma_kernel_usable<__nv_bfloat16, true>() && wgmma_kernel_usable<__half, true>();
}

bool launch_attention_maxpool_wgmma(const AttnParams& p) {
  // Pool blocks of 64 keys are the two halves of a 128-key tile; other sizes stay on variant B.
  if (p.head_dim != WgShape::kD || p.pool_block != 64) return false;
  return p.dtype == AttnDtype::kBF16 ? launch_wgmma<__nv_bfloat16, true>(p)
                                     : launch_wgmma<__half, true>(p);
}

}  // namespace seer::kernels::cuda
