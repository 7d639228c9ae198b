// Reads a distillation stream ahead of the trainer on one background thread. The trainer asks for
// the samples of a step at a time, each step `stride` counters after the one before ([c, c + n),
// then [c + stride, c + stride + n), ...; stride = n for one process, the global batch for one
// rank's share of it); since what a counter reads is a pure function of (seed, counter), the
// thread reads the next steps while the current one trains and keeps at most `capacity` of them in
// a bounded queue.
// Memory: at most capacity + 2 steps of samples (the queue, the step being read, the step the
// trainer holds), whatever the size of the capture.
//
// The read function runs only on the background thread (HDF5 is entered by one thread at a time:
// whoever built the reader must not use it while the prefetcher lives). A request that is not the
// next step (the first one, a resume, a jump) restarts the thread at that counter. An exception
// in the read reaches the trainer at the request of the step that failed.
#pragma once

#include "core/gate/distill_batch.h"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace seer::data {

class DistillPrefetcher {
 public:
  // The samples of counters [first, first + count).
  using ReadBatch = std::function<core::DistillBatch(int64_t first, int64_t count)>;

  // `capacity`: steps kept ready (>= 1); `stride`: counters from one step's first sample to the
  // next one's (0: the step's size, consecutive steps).
  DistillPrefetcher(ReadBatch read, int64_t capacity, int64_t stride = 0);
  ~DistillPrefetcher();
  DistillPrefetcher(const DistillPrefetcher&) = delete;
  DistillPrefetcher& operator=(const DistillPrefetcher&) = delete;

  // Blocks until the step is read.
  core::DistillBatch next(int64_t first, int64_t count);

  // For tests: steps read so far by the background thread (all restarts together).
  int64_t steps_read() const;

 private:
  struct Ready {
    int64_t first = 0;
    core::DistillBatch batch;
    std::exception_ptr error;
  };
  void start(int64_t first, int64_t count);
  void stop();
  void loop(int64_t first, int64_t count);
  int64_t step_stride(int64_t count) const { return stride_ > 0 ? stride_ : count; }

  ReadBatch read_;
  int64_t capacity_;
  int64_t stride_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::deque<Ready> queue_;
  bool stopping_ = false;
  bool running_ = false;
  int64_t expected_ = -1;   // first counter of the step the next request should ask for
  int64_t count_ = 0;
  int64_t steps_read_ = 0;
};

}  // namespace seer::data
