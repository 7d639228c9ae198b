// Launcher of the Hopper wgmma block-sparse kernel with 128-key steps (sparse variant 'X',
// flash_fwd_wgmma_sparse_pair.cuh): builds the TMA tensor maps of q, k, v (boxes of 64 rows) and
// launches one CTA per 64-row query block, KV-head-major. It declines (returns false, nothing
// launched) where V declines: head dim other than 128, an element mask (mask blocks 16 / 32), a
// device other than Hopper, a build without sm_90a code, or tensors the copy engine cannot
// address; the caller then runs the mma.sync kernels (variant H).
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/flash_fwd_wgmma_sparse_pair.cuh"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/tma_map.cuh"

#include <stdexcept>

namespace seer::kernels::cuda {

namespace {

template <typename T, int KS, int VS>
bool pair_kernel_usable() {
  static KernelUsableCache known = {};   // 0 unknown, 1 usable, -1 not
  return hopper_kernel_usable(flash_fwd_wgmma_sparse_pair_kernel<T, KS, VS>, known);
}

template <typename T, int KS, int VS>
bool launch_pair(const AttnParams& p) {
  using Shape = WpShape<KS, VS>;
  if (!pair_kernel_usable<T, KS, VS>()) return false;
  QkvTensorMaps tm;
  if (!make_qkv_tensor_maps(p, Shape::kBM, Shape::kEntry, &tm)) return false;
  auto* kernel = flash_fwd_wgmma_sparse_pair_kernel<T, KS, VS>;
  SEER_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       Shape::kSmemBytes));
  const int64_t ctas = (p.sq + Shape::kBM - 1) / Shape::kBM * p.head_count;
  if (ctas == 0 || p.batch == 0) return true;
  if (ctas > 0x7fffffff || p.batch > 65535)
    throw std::runtime_error("flash_fwd_wgmma_sparse_pair: too many query blocks x heads for the grid");
  const dim3 grid(static_cast<unsigned>(ctas), p.batch);
  kernel<<<grid, Shape::kThreads, Shape::kSmemBytes, static_cast<cudaStream_t>(p.stream)>>>(
      p, tm.q, tm.k, tm.v);
  SEER_CUDA_CHECK(cudaGetLastError());
  return true;
}

}  // namespace

// 1 K + 2 V stages: 112 KB, two CTAs per SM. 2 + 2 stages (144 KB, one CTA and so one consumer
// warpgroup per SM) took 1.25-1.35x this one's time at 32k / 128k, keep 0.3-1, and 1.25-1.69x at
// keep 0.1 / 0.05 (H200, 14:35 UTC, bench/NOTES.md round 5): one warpgroup's softmax is not
// hidden behind its own P V alone.
constexpr int kKStages = 1, kVStages = 2;

bool attention_sparse_wgmma_pair_ready() {
  return pair_kernel_usable<__nv_bfloat16, kKStages, kVStages>() &&
         pair_kernel_usable<__half, kKStages, kVStages>();
}

bool launch_attention_sparse_wgmma_pair(const AttnParams& p) {
  if (p.head_dim != 128 || p.fine_mask != nullptr) return false;
  if (p.n_qtiles != (p.sq + 63) / 64) return false;   // lists of 64-row query blocks only
  return p.dtype == AttnDtype::kBF16 ? launch_pair<__nv_bfloat16, kKStages, kVStages>(p)
                                     : launch_pair<__half, kKStages, kVStages>(p);
}

}  // namespace seer::kernels::cuda
