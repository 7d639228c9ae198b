#include "experiments/device_clock.h"

#ifdef SEER_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace seer::experiments {

void synchronize_device(at::Device device) {
#ifdef SEER_WITH_CUDA
  if (device.is_cuda()) at::cuda::getCurrentCUDAStream(device.index()).synchronize();
#else
  (void)device;
#endif
}

#ifdef SEER_WITH_CUDA
namespace {
c10::DeviceIndex index_of(at::Device device) {
  return device.has_index() ? device.index() : at::cuda::current_device();
}
}  // namespace
#endif

void reset_peak_memory(at::Device device) {
#ifdef SEER_WITH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(index_of(device));
#else
  (void)device;
#endif
}

std::optional<int64_t> peak_memory_bytes(at::Device device) {
#ifdef SEER_WITH_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(index_of(device));
    return stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak;
  }
#endif
  (void)device;
  return std::nullopt;
}

}  // namespace seer::experiments
