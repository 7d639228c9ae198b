// Launcher of the Hopper wgmma dense kernel (variant 'W', flash_fwd_wgmma.cuh). It runs only
// where the kernel was compiled for sm_90a and the device is a Hopper GPU; elsewhere (the
// generic sm_80 build, head dim 64) it declines and the caller falls back to variant B.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/flash_fwd_wgmma.cuh"
#include "kernels/cuda/launch.h"

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

template <typename T>
bool launch_wgmma(const AttnParams& p) {
  if (!wgmma_kernel_usable<T>()) return false;
  auto* kernel = flash_fwd_wgmma_kernel<T>;
  SEER_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       WgShape::kSmemBytes));
  const int n_qtiles = (p.sq + WgShape::kBM - 1) / WgShape::kBM;
  if (n_qtiles == 0 || p.head_count == 0 || p.batch == 0) return true;
  if (n_qtiles > 65535) throw std::runtime_error("flash_fwd_wgmma: sequence too long for the grid");
  const dim3 grid(p.head_count, n_qtiles, p.batch);
  kernel<<<grid, WgShape::kThreads, WgShape::kSmemBytes, static_cast<cudaStream_t>(p.stream)>>>(p);
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
