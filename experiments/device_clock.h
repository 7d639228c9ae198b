// What a whole-command GPU timing needs besides a clock: waiting for the device's queued work,
// and the caching allocator's peak memory. On the CPU (or a build without CUDA) both are no-ops,
// so the same benchmark code times the CPU smoke runs.
#pragma once

#include <c10/core/Device.h>

#include <cstdint>
#include <optional>

namespace seer::experiments {

// Blocks until every kernel queued on `device`'s current stream has finished.
void synchronize_device(at::Device device);
// Starts a new peak for peak_memory_bytes().
void reset_peak_memory(at::Device device);
// Largest amount of tensor memory allocated on `device` since the last reset (CUDA only).
std::optional<int64_t> peak_memory_bytes(at::Device device);

}  // namespace seer::experiments
