#include "data/distill_prefetcher.h"

#include "data/data_error.h"

#include <fmt/format.h>

#include <algorithm>

namespace seer::data {

DistillPrefetcher::DistillPrefetcher(ReadBatch read, int64_t capacity, int64_t stride)
    : read_(std::move(read)), capacity_(std::max<int64_t>(1, capacity)), stride_(stride) {}

DistillPrefetcher::~DistillPrefetcher() { stop(); }

int64_t DistillPrefetcher::steps_read() const {
  std::lock_guard<std::mutex> lock(mu_);
  return steps_read_;
}

void DistillPrefetcher::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  queue_.clear();
  stopping_ = false;
  running_ = false;
}

void DistillPrefetcher::start(int64_t first, int64_t count) {
  stop();
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_ = true;
    expected_ = first;
    count_ = count;
  }
  thread_ = std::thread([this, first, count] { loop(first, count); });
}

void DistillPrefetcher::loop(int64_t first, int64_t count) {
  for (int64_t c = first;; c += step_stride(count)) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      changed_.wait(lock, [&] {
        return stopping_ || static_cast<int64_t>(queue_.size()) < capacity_;
      });
      if (stopping_) return;
    }
    Ready r;
    r.first = c;
    try {
      r.batch = read_(c, count);
    } catch (...) {
      r.error = std::current_exception();
    }
    const bool failed = static_cast<bool>(r.error);
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(r));
      ++steps_read_;
    }
    changed_.notify_all();
    if (failed) return;
  }
}

core::DistillBatch DistillPrefetcher::next(int64_t first, int64_t count) {
  bool restart;
  {
    std::lock_guard<std::mutex> lock(mu_);
    restart = !running_ || first != expected_ || count != count_;
  }
  if (restart) start(first, count);
  Ready r;
  {
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait(lock, [&] { return !queue_.empty(); });
    r = std::move(queue_.front());
    queue_.pop_front();
    expected_ = first + step_stride(count);
  }
  changed_.notify_all();
  if (r.first != first)
    throw DataError(fmt::format("prefetch: read counter {} for a request of {}", r.first, first));
  if (r.error) {
    stop();
    std::rethrow_exception(r.error);
  }
  return std::move(r.batch);
}

}  // namespace seer::data
