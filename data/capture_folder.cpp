#include "data/capture_folder.h"

#include "data/capture_repair.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <regex>
#include <stdexcept>

namespace fs = std::filesystem;

namespace seer::data {

std::string capture_sequence_id(int64_t w) { return fmt::format("seq_{:05d}", w); }
std::string capture_file_name(int64_t k) { return fmt::format("capture_{:05d}.h5", k); }

std::vector<fs::path> capture_folder_files(const fs::path& dir) {
  std::vector<fs::path> out;
  const std::regex file_re(R"(capture_\d+\.h5)");
  for (const auto& e : fs::directory_iterator(dir))
    if (std::regex_match(e.path().filename().string(), file_re)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

CaptureFolderWriter::CaptureFolderWriter(fs::path dir, CaptureFileInfo info,
                                         int64_t sequences_per_file, std::string compression,
                                         int64_t queue, std::set<int64_t> only_files)
    : dir_(std::move(dir)), info_(std::move(info)), per_file_(sequences_per_file),
      compression_(std::move(compression)), queue_limit_(std::max<int64_t>(1, queue)),
      only_files_(std::move(only_files)) {
  if (per_file_ < 1)
    throw DataError(fmt::format("{}: sequences_per_file {} < 1", dir_.string(), per_file_));
  fs::create_directories(dir_);
  const std::regex file_re(R"(capture_(\d+)\.h5)"), seq_re(R"(seq_(\d+))");
  const std::regex salvage_re(R"(capture_(\d+)\.h5\.salvage)");
  std::vector<fs::path> paths;   // listed first: a rewrite below adds and renames files
  for (const auto& e : fs::directory_iterator(dir_)) paths.push_back(e.path());
  std::sort(paths.begin(), paths.end());
  for (const auto& path : paths) {
    std::smatch m;
    const std::string name = path.filename().string();
    if (std::regex_match(name, m, salvage_re)) {   // a rewrite that a kill cut short
      if (owns_file(std::stoll(m[1]))) fs::remove(path);
      continue;
    }
    if (!std::regex_match(name, m, file_re) || !owns_file(std::stoll(m[1]))) continue;
    if (const std::string why = capture_file_damage(path); !why.empty()) {
      const auto kept = salvage_capture_file(path, extend_truncated_capture_file(path, why));
      if (!kept) {
        fs::remove(path);
        repairs_.push_back(fmt::format("{} was damaged by a kill or a full disk ({}): removed, its "
                                       "windows are captured again", name, why));
        continue;
      }
      repairs_.push_back(fmt::format("{} was damaged by a kill or a full disk ({}): rewritten with "
                                     "the {} complete windows that still read, the others are "
                                     "captured again", name, why, *kept));
    }
    auto w = std::make_unique<CaptureWriter>(path, info_, compression_);
    for (const auto& id : w->sequences()) {
      std::smatch sm;
      if (std::regex_match(id, sm, seq_re)) complete_.insert(std::stoll(sm[1]));
    }
    writers_.emplace(std::stoll(m[1]), std::move(w));
  }
  thread_ = std::thread([this] { loop(); });
}

CaptureFolderWriter::~CaptureFolderWriter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool CaptureFolderWriter::has_sequence(int64_t w) const {
  std::lock_guard<std::mutex> lock(mu_);
  return complete_.count(w) > 0;
}

int64_t CaptureFolderWriter::complete() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(complete_.size());
}

double CaptureFolderWriter::write_seconds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return write_seconds_;
}

double CaptureFolderWriter::wait_seconds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return wait_seconds_;
}

std::vector<fs::path> CaptureFolderWriter::files() const { return capture_folder_files(dir_); }

void CaptureFolderWriter::write(int64_t w, CaptureSequence seq) {
  if (const int64_t k = w / per_file_; !owns_file(k))
    throw std::logic_error(fmt::format("{}: sequence {} belongs to {}, which this writer does not "
                                       "own", dir_.string(), w, capture_file_name(k)));
  seq.id = capture_sequence_id(w);
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [&] {
    return error_ || static_cast<int64_t>(queue_.size()) < queue_limit_;
  });
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (error_) std::rethrow_exception(error_);
  queue_.emplace_back(w, std::move(seq));
  lock.unlock();
  changed_.notify_all();
}

void CaptureFolderWriter::finish() {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [&] { return error_ || (queue_.empty() && !busy_); });
  if (error_) std::rethrow_exception(error_);
}

CaptureWriter& CaptureFolderWriter::writer_for(int64_t w) {
  const int64_t k = w / per_file_;
  auto it = writers_.find(k);
  if (it == writers_.end())
    it = writers_.emplace(k, std::make_unique<CaptureWriter>(dir_ / capture_file_name(k), info_,
                                                             compression_)).first;
  return *it->second;
}

void CaptureFolderWriter::loop() {
  for (;;) {
    std::pair<int64_t, CaptureSequence> item;
    {
      std::unique_lock<std::mutex> lock(mu_);
      changed_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty() || error_) return;   // closing with nothing left, or after a failure
      item = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    const auto t0 = std::chrono::steady_clock::now();
    std::exception_ptr failed;
    try {
      writer_for(item.first).write(item.second);
    } catch (...) {
      failed = std::current_exception();
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    {
      std::lock_guard<std::mutex> lock(mu_);
      busy_ = false;
      write_seconds_ += secs;
      if (failed) {
        error_ = failed;
        queue_.clear();
      } else {
        complete_.insert(item.first);
      }
    }
    changed_.notify_all();
    if (failed) return;
  }
}

}  // namespace seer::data
