// Host side of the Hopper kernels (flash_fwd_wgmma.cu, flash_fwd_wgmma_sparse_pair.cu): TMA tensor
// maps of q / k / v and the check that a kernel really carries sm_90a code on this device.
#pragma once

#include "kernels/cuda/cuda_check.h"
#include "kernels/params.h"

#include <cuda.h>           // CUtensorMap
#include <cudaTypedefs.h>   // PFN_cuTensorMapEncodeTiled

#include <atomic>
#include <cstdint>

namespace seer::kernels::cuda {

// True when the binary the driver picked for `kernel` on the current device came from sm_90a
// code: the sm_80 PTX JIT-compiled for a Hopper device reports PTX version 80 and has an empty
// body. `known` caches the answer per device (one array per kernel and dtype); atomic because
// RULER's worker threads launch the same kernels at once (two threads may both ask the driver the
// first time; they store the same answer).
using KernelUsableCache = std::atomic<signed char>[64];

template <typename Kernel>
bool hopper_kernel_usable(Kernel kernel, KernelUsableCache& known) {
  int dev = 0;
  SEER_CUDA_CHECK(cudaGetDevice(&dev));
  if (dev < 0 || dev >= 64) return false;
  signed char answer = known[dev].load(std::memory_order_relaxed);
  if (answer == 0) {
    int major = 0;
    SEER_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    cudaFuncAttributes attr{};
    SEER_CUDA_CHECK(cudaFuncGetAttributes(&attr, kernel));
    answer = (major == 9 && attr.ptxVersion >= 90 && attr.binaryVersion >= 90) ? 1 : -1;
    known[dev].store(answer, std::memory_order_relaxed);
  }
  return answer > 0;
}

// The driver's tensor-map encoder, through the runtime (no link against libcuda).
inline PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder() {
  static const PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
    void* ptr = nullptr;
    cudaDriverEntryPointQueryResult found{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &ptr, 12000, cudaEnableDefault,
                                         &found) != cudaSuccess ||
        found != cudaDriverEntryPointSuccess)
      return static_cast<PFN_cuTensorMapEncodeTiled_v12000>(nullptr);
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(ptr);
  }();
  return fn;
}

// Tensor map of q, k or v ([batch, rows, heads, 128], strides in elements) for boxes of 64
// elements x box_rows rows of one head, 128-byte swizzled (the layout of sw128_offset).
// Dimensions innermost first: head dim, heads, rows, batch. False when the driver refuses (e.g.
// strides that are no multiple of 16 bytes): the caller falls back to the mma.sync kernels.
inline bool make_tensor_map(CUtensorMap* map, const void* base, CUtensorMapDataType dtype,
                            int64_t batch, int64_t rows, int64_t heads, int64_t batch_stride,
                            int64_t row_stride, int64_t head_stride, uint32_t box_rows) {
  const PFN_cuTensorMapEncodeTiled_v12000 encode = tensor_map_encoder();
  if (encode == nullptr) return false;
  if (batch_stride == 0) batch_stride = rows * row_stride;   // varlen: one batch entry
  const cuuint64_t dims[4] = {128, static_cast<cuuint64_t>(heads), static_cast<cuuint64_t>(rows),
                              static_cast<cuuint64_t>(batch)};
  const cuuint64_t strides[3] = {static_cast<cuuint64_t>(head_stride) * 2,
                                 static_cast<cuuint64_t>(row_stride) * 2,
                                 static_cast<cuuint64_t>(batch_stride) * 2};
  const cuuint32_t box[4] = {64, 1, box_rows, 1};
  const cuuint32_t elem_strides[4] = {1, 1, 1, 1};
  return encode(map, dtype, 4, const_cast<void*>(base), dims, strides, box, elem_strides,
                CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

// The three maps of one launch: q in boxes of q_box_rows rows, k and v of kv_box_rows (rows of a
// varlen batch are one batch entry of p.q_rows / p.k_rows). False when the driver refuses any.
struct QkvTensorMaps {
  CUtensorMap q, k, v;
};
inline bool make_qkv_tensor_maps(const AttnParams& p, uint32_t q_box_rows, uint32_t kv_box_rows,
                                 QkvTensorMaps* maps) {
  const CUtensorMapDataType dt = p.dtype == AttnDtype::kBF16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
                                                             : CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
  const int64_t tb = p.cu_seqlens_q != nullptr ? 1 : p.batch;   // varlen: [1, total, H, D]
  return make_tensor_map(&maps->q, p.q, dt, tb, p.q_rows, p.hq, p.q_batch_stride, p.q_row_stride,
                         p.q_head_stride, q_box_rows) &&
         make_tensor_map(&maps->k, p.k, dt, tb, p.k_rows, p.hkv, p.k_batch_stride, p.k_row_stride,
                         p.k_head_stride, kv_box_rows) &&
         make_tensor_map(&maps->v, p.v, dt, tb, p.k_rows, p.hkv, p.v_batch_stride, p.v_row_stride,
                         p.v_head_stride, kv_box_rows);
}

}  // namespace seer::kernels::cuda
