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

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

namespace seer::kernels::cuda {

namespace {

template <typename T, int KS, int VS>
bool pair_kernel_usable() {
  static signed char known[64] = {};   // 0 unknown, 1 usable, -1 not
  return hopper_kernel_usable(flash_fwd_wgmma_sparse_pair_kernel<T, KS, VS>, known);
}

// CTAs resident per SM for `kernel` (cached per device; 2 expected: 112 KB of shared memory).
template <typename Kernel>
int resident_ctas(Kernel kernel, int smem_bytes, int threads, int (&known)[64]) {
  int dev = 0;
  SEER_CUDA_CHECK(cudaGetDevice(&dev));
  if (dev < 0 || dev >= 64) return 1;
  if (known[dev] == 0) {
    int sms = 0, per_sm = 0;
    SEER_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    SEER_CUDA_CHECK(
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, smem_bytes));
    known[dev] = std::max(1, sms * per_sm);
  }
  return known[dev];
}

template <typename T, int KS, int VS>
bool launch_pair(const AttnParams& p, bool persistent) {
  using Shape = WpShape<KS, VS>;
  if (!pair_kernel_usable<T, KS, VS>()) return false;
  const CUtensorMapDataType dt = p.dtype == AttnDtype::kBF16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
                                                             : CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
  const int64_t tb = p.cu_seqlens_q != nullptr ? 1 : p.batch;   // varlen: [1, total, H, D]
  CUtensorMap tm_q, tm_k, tm_v;
  if (!make_tensor_map(&tm_q, p.q, dt, tb, p.q_rows, p.hq, p.q_batch_stride, p.q_row_stride,
                       p.q_head_stride, Shape::kBM) ||
      !make_tensor_map(&tm_k, p.k, dt, tb, p.k_rows, p.hkv, p.k_batch_stride, p.k_row_stride,
                       p.k_head_stride, Shape::kEntry) ||
      !make_tensor_map(&tm_v, p.v, dt, tb, p.k_rows, p.hkv, p.v_batch_stride, p.v_row_stride,
                       p.v_head_stride, Shape::kEntry))
    return false;
  auto* kernel = flash_fwd_wgmma_sparse_pair_kernel<T, KS, VS>;
  SEER_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       Shape::kSmemBytes));
  // One work item per (batch entry, head, 64-row query block); the grid is the item count or,
  // persistent, as many CTAs as fit on the device at once.
  const int64_t items = (p.sq + Shape::kBM - 1) / Shape::kBM * p.head_count * p.batch;
  if (items == 0) return true;
  if (items > 0x7fffffff)
    throw std::runtime_error("flash_fwd_wgmma_sparse_pair: too many query blocks x heads x batch");
  int64_t ctas = items;
  if (persistent) {
    static int known[64] = {};
    ctas = std::min<int64_t>(items, resident_ctas(kernel, Shape::kSmemBytes, Shape::kThreads, known));
    // Tests cap the grid so that small problems give each CTA many items.
    if (const char* cap = std::getenv("SEER_SPARSE_CTAS"); cap != nullptr && cap[0] != '\0')
      ctas = std::min<int64_t>(ctas, std::max(1, std::atoi(cap)));
  }
  kernel<<<static_cast<unsigned>(ctas), Shape::kThreads, Shape::kSmemBytes,
           static_cast<cudaStream_t>(p.stream)>>>(p, tm_q, tm_k, tm_v);
  SEER_CUDA_CHECK(cudaGetLastError());
  return true;
}

}  // namespace

// 1 K + 2 V stages: 112 KB, two CTAs per SM. 2 + 2 stages (144 KB, one CTA and so one consumer
// warpgroup per SM) ran 20-25% slower than this and than V at 32k / 128k, keep 0.05-1 (H200,
// 14:35 UTC, bench/NOTES.md round 5): one warpgroup's softmax is not hidden behind its own
// P V alone.
constexpr int kKStages = 1, kVStages = 2;

bool attention_sparse_wgmma_pair_ready() {
  return pair_kernel_usable<__nv_bfloat16, kKStages, kVStages>() &&
         pair_kernel_usable<__half, kKStages, kVStages>();
}

bool launch_attention_sparse_wgmma_pair(const AttnParams& p, bool persistent) {
  if (p.head_dim != 128 || p.fine_mask != nullptr) return false;
  if (p.n_qtiles != (p.sq + 63) / 64) return false;   // lists of 64-row query blocks only
  return p.dtype == AttnDtype::kBF16 ? launch_pair<__nv_bfloat16, kKStages, kVStages>(p, persistent)
                                     : launch_pair<__half, kKStages, kVStages>(p, persistent);
}

}  // namespace seer::kernels::cuda
