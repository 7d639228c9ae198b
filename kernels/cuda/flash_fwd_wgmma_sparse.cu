// Launcher of the Hopper wgmma block-sparse kernel (sparse variant 'V',
// flash_fwd_wgmma_sparse.cuh): builds the TMA tensor maps of q, k, v (boxes of 64 rows) and
// launches one CTA per 64-row query block, KV-head-major. It declines (returns false,
// nothing launched) where the kernel does not apply: head dim other than 128, an element mask
// (mask blocks 16 / 32), a device other than Hopper, a build without sm_90a code, or tensors the
// copy engine cannot address; the caller then runs the mma.sync kernels (variant H).
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/flash_fwd_wgmma_sparse.cuh"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/tma_map.cuh"

#include <stdexcept>

namespace seer::kernels::cuda {

namespace {

template <typename T, int CONSUMERS>
bool sparse_kernel_usable() {
  static signed char known[64] = {};   // 0 unknown, 1 usable, -1 not
  return hopper_kernel_usable(flash_fwd_wgmma_sparse_kernel<T, CONSUMERS>, known);
}

template <typename T, int CONSUMERS>
bool launch_sparse_wgmma(const AttnParams& p) {
  using Shape = WsShape<CONSUMERS>;
  if (!sparse_kernel_usable<T, CONSUMERS>()) return false;
  const CUtensorMapDataType dt = p.dtype == AttnDtype::kBF16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
                                                             : CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
  const int64_t tb = p.cu_seqlens_q != nullptr ? 1 : p.batch;   // varlen: [1, total, H, D]
  CUtensorMap tm_q, tm_k, tm_v;
  if (!make_tensor_map(&tm_q, p.q, dt, tb, p.q_rows, p.hq, p.q_batch_stride, p.q_row_stride,
                       p.q_head_stride, Shape::kBM) ||
      !make_tensor_map(&tm_k, p.k, dt, tb, p.k_rows, p.hkv, p.k_batch_stride, p.k_row_stride,
                       p.k_head_stride, Shape::kBN) ||
      !make_tensor_map(&tm_v, p.v, dt, tb, p.k_rows, p.hkv, p.v_batch_stride, p.v_row_stride,
                       p.v_head_stride, Shape::kBN))
    return false;
  auto* kernel = flash_fwd_wgmma_sparse_kernel<T, CONSUMERS>;
  SEER_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       Shape::kSmemBytes));
  const int64_t n_q = (p.sq + Shape::kBM - 1) / Shape::kBM;
  const int64_t ctas = (n_q + CONSUMERS - 1) / CONSUMERS * p.head_count;
  if (ctas == 0 || p.batch == 0) return true;
  if (ctas > 0x7fffffff || p.batch > 65535)
    throw std::runtime_error("flash_fwd_wgmma_sparse: too many query blocks x heads for the grid");
  const dim3 grid(static_cast<unsigned>(ctas), p.batch);
  kernel<<<grid, Shape::kThreads, Shape::kSmemBytes, static_cast<cudaStream_t>(p.stream)>>>(
      p, tm_q, tm_k, tm_v);
  SEER_CUDA_CHECK(cudaGetLastError());
  return true;
}

}  // namespace

// One query block per CTA, two CTAs per SM. Two blocks per CTA (CONSUMERS = 2, one CTA per SM)
// measured the same at keep >= 0.3 and 4-8% slower at keep 0.1 / 0.05 on 32k (H200, 13:00 UTC,
// bench/NOTES.md round 4): a lone CTA per SM starts each block cold (Q, first K / V), and its
// two lists rarely end together.
constexpr int kConsumersPerCta = 1;

bool attention_sparse_wgmma_ready() {
  return sparse_kernel_usable<__nv_bfloat16, kConsumersPerCta>() &&
         sparse_kernel_usable<__half, kConsumersPerCta>();
}

bool launch_attention_sparse_wgmma(const AttnParams& p) {
  if (p.head_dim != 128 || p.fine_mask != nullptr) return false;
  if (p.n_qtiles != (p.sq + 63) / 64) return false;   // lists of 64-row query blocks only
  return p.dtype == AttnDtype::kBF16 ? launch_sparse_wgmma<__nv_bfloat16, kConsumersPerCta>(p)
                                     : launch_sparse_wgmma<__half, kConsumersPerCta>(p);
}

}  // namespace seer::kernels::cuda
