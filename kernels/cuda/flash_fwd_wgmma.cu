// Launcher of the Hopper wgmma dense kernel (variant 'W', flash_fwd_wgmma.cuh): builds the
// TMA tensor maps of q, k, v and launches. It runs only where the kernel was compiled for
// sm_90a and the device is a Hopper GPU; elsewhere (the generic sm_80 build, head dim 64,
// tensors the copy engine cannot address) it declines and the caller falls back to variant B.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/flash_fwd_wgmma.cuh"
#include "kernels/cuda/launch.h"

#include <cudaTypedefs.h>   // PFN_cuTensorMapEncodeTiled

#include <stdexcept>

namespace seer::kernels::cuda {

namespace {

// True when the binary the driver picked for this kernel on the current device came from
// sm_90a code: the sm_80 PTX JIT-compiled for a Hopper device reports PTX version 80 and has an
// empty body. Asked once per device and dtype.
template <typename T>
bool wgmma_kernel_usable() {
  constexpr int kMaxDevices = 64;
  static signed char known[kMaxDevices] = {};   // 0 unknown, 1 usable, -1 not
  int dev = 0;
  SEER_CUDA_CHECK(cudaGetDevice(&dev));
  if (dev < 0 || dev >= kMaxDevices) return false;
  if (known[dev] == 0) {
    int major = 0;
    SEER_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    cudaFuncAttributes attr{};
    SEER_CUDA_CHECK(cudaFuncGetAttributes(&attr, flash_fwd_wgmma_kernel<T>));
    known[dev] = (major == 9 && attr.ptxVersion >= 90 && attr.binaryVersion >= 90) ? 1 : -1;
  }
  return known[dev] > 0;
}

// The driver's tensor-map encoder, through the runtime (no link against libcuda).
PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder() {
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
// elements x 128 rows of one head, 128-byte swizzled (the layout of sw128_offset). Dimensions
// innermost first: head dim, heads, rows, batch. False when the driver refuses (e.g. strides
// that are no multiple of 16 bytes): the caller falls back to B.
bool make_tensor_map(CUtensorMap* map, const void* base, CUtensorMapDataType dtype, int64_t batch,
                     int64_t rows, int64_t heads, int64_t batch_stride, int64_t row_stride,
                     int64_t head_stride) {
  const PFN_cuTensorMapEncodeTiled_v12000 encode = tensor_map_encoder();
  if (encode == nullptr) return false;
  if (batch_stride == 0) batch_stride = rows * row_stride;   // varlen: one batch entry
  const cuuint64_t dims[4] = {128, static_cast<cuuint64_t>(heads), static_cast<cuuint64_t>(rows),
                              static_cast<cuuint64_t>(batch)};
  const cuuint64_t strides[3] = {static_cast<cuuint64_t>(head_stride) * 2,
                                 static_cast<cuuint64_t>(row_stride) * 2,
                                 static_cast<cuuint64_t>(batch_stride) * 2};
  const cuuint32_t box[4] = {64, 1, 128, 1};
  const cuuint32_t elem_strides[4] = {1, 1, 1, 1};
  return encode(map, dtype, 4, const_cast<void*>(base), dims, strides, box, elem_strides,
                CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

template <typename T>
bool launch_wgmma(const AttnParams& p) {
  if (!wgmma_kernel_usable<T>()) return false;
  const CUtensorMapDataType dt = p.dtype == AttnDtype::kBF16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
                                                             : CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
  const int64_t tb = p.cu_seqlens_q != nullptr ? 1 : p.batch;   // varlen: [1, total, H, D]
  CUtensorMap tm_q, tm_k, tm_v;
  if (!make_tensor_map(&tm_q, p.q, dt, tb, p.q_rows, p.hq, p.q_batch_stride, p.q_row_stride,
                       p.q_head_stride) ||
      !make_tensor_map(&tm_k, p.k, dt, tb, p.k_rows, p.hkv, p.k_batch_stride, p.k_row_stride,
                       p.k_head_stride) ||
      !make_tensor_map(&tm_v, p.v, dt, tb, p.k_rows, p.hkv, p.v_batch_stride, p.v_row_stride,
                       p.v_head_stride))
    return false;
  auto* kernel = flash_fwd_wgmma_kernel<T>;
  SEER_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       WgShape::kSmemBytes));
  const int n_qtiles = (p.sq + WgShape::kBM - 1) / WgShape::kBM;
  if (n_qtiles == 0 || p.head_count == 0 || p.batch == 0) return true;
  if (n_qtiles > 65535) throw std::runtime_error("flash_fwd_wgmma: sequence too long for the grid");
  const dim3 grid(p.head_count, n_qtiles, p.batch);
  kernel<<<grid, WgShape::kThreads, WgShape::kSmemBytes, static_cast<cudaStream_t>(p.stream)>>>(
      p, tm_q, tm_k, tm_v);
  SEER_CUDA_CHECK(cudaGetLastError());
  return true;
}

}  // namespace

bool attention_dense_wgmma_ready() {
  return wgmma_kernel_usable<__nv_bfloat16>() && wgmma_kernel_usable<__half>();
}

bool launch_attention_dense_wgmma(const AttnParams& p) {
  if (p.head_dim != WgShape::kD) return false;
  return p.dtype == AttnDtype::kBF16 ? launch_wgmma<__nv_bfloat16>(p) : launch_wgmma<__half>(p);
}

}  // namespace seer::kernels::cuda
