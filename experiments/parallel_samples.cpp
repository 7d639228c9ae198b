#include "experiments/parallel_samples.h"

#include <ATen/ThreadLocalState.h>

#ifdef SEER_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include <algorithm>
#include <atomic>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace seer::experiments {
namespace {

// The worker's own stream from the pool, current for the worker's whole life.
class WorkerStream {
 public:
  explicit WorkerStream(at::Device device) {
#ifdef SEER_WITH_CUDA
    if (device.is_cuda()) {
      const c10::DeviceIndex index = device.has_index() ? device.index() : c10::cuda::current_device();
      guard_.emplace(c10::cuda::getStreamFromPool(/*isHighPriority=*/false, index));
    }
#else
    (void)device;
#endif
  }
  void synchronize() {
#ifdef SEER_WITH_CUDA
    if (guard_) guard_->current_stream().synchronize();
#endif
  }

 private:
#ifdef SEER_WITH_CUDA
  std::optional<c10::cuda::CUDAStreamGuard> guard_;
#endif
};

}  // namespace

void run_on_workers(int64_t n, int64_t workers, at::Device device,
                    const std::function<void(int64_t, int64_t)>& work,
                    const std::function<void(int64_t)>& finished) {
  if (n <= 0) return;
  workers = std::clamp<int64_t>(workers, 1, n);
  if (workers == 1) {
    for (int64_t i = 0; i < n; ++i) {
      work(0, i);
      finished(i);
    }
    return;
  }
  // Grad mode, inference mode and the other thread-local settings of the caller hold in the
  // workers too.
  const at::ThreadLocalState caller_state;
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex finished_mutex;
  std::exception_ptr first_error;
  auto loop = [&](int64_t worker) {
    try {
      at::ThreadLocalStateGuard state(caller_state);
      WorkerStream stream(device);
      for (int64_t i = next++; i < n && !failed; i = next++) {
        work(worker, i);
        stream.synchronize();
        std::lock_guard<std::mutex> lock(finished_mutex);
        finished(i);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(finished_mutex);
      if (!first_error) first_error = std::current_exception();
      failed = true;
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(workers));
  try {
    for (int64_t w = 0; w < workers; ++w) threads.emplace_back(loop, w);
  } catch (...) {   // no thread to start: stop those that run, then report
    failed = true;
    for (auto& t : threads) t.join();
    throw;
  }
  for (auto& t : threads) t.join();
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace seer::experiments
