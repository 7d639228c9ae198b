#include "experiments/progress.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace seer::experiments {

void Logger::FileCloser::operator()(std::FILE* f) const {
  if (f != nullptr) std::fclose(f);
}

Logger::Logger() = default;

Logger::Logger(const std::filesystem::path& file) : path_(file) {
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
  file_.reset(std::fopen(file.c_str(), "a"));
  if (!file_) throw std::runtime_error(fmt::format("{}: cannot open log file", file.string()));
}

Logger::~Logger() = default;

void Logger::info(const std::string& line) {
  fmt::print("{}\n", line);
  std::fflush(stdout);
  file_only(line);
}

void Logger::file_only(const std::string& line) {
  if (!file_) return;
  const std::string text = line + "\n";
  if (std::fwrite(text.data(), 1, text.size(), file_.get()) == text.size() &&
      std::fflush(file_.get()) == 0)
    return;
  fmt::print(stderr, "seer: warning: {}: cannot write the run log: {}; the log goes on on the "
             "console only\n", path_.string(), std::strerror(errno));
  file_.reset();
}

Progress::Progress(std::string label, int64_t total)
    : label_(std::move(label)),
      total_(total),
      tty_(::isatty(STDOUT_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_) {}

Progress::~Progress() {
  if (!finished_ && tty_) fmt::print("\n");
}

void Progress::update(int64_t done, const std::string& extra) {
  done_ = done;
  extra_ = extra;
  const auto now = std::chrono::steady_clock::now();
  // On a terminal redraw at most 10 times a second; in logs print a line every 5 seconds.
  const auto every = tty_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(5000);
  if (now - last_print_ >= every) {
    last_print_ = now;
    draw(false);
  }
}

void Progress::update_reused(int64_t done) {
  reused_ += std::max<int64_t>(0, done - done_);
  update(done, extra_);
}

void Progress::finish(const std::string& extra) {
  if (!extra.empty()) extra_ = extra;
  done_ = total_ > 0 ? total_ : done_;
  draw(true);
  finished_ = true;
}

void Progress::draw(bool final_line) {
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double frac = total_ > 0 ? static_cast<double>(done_) / static_cast<double>(total_) : 0.0;
  std::string eta;
  const int64_t worked = done_ - reused_;   // units done in this run's time
  if (total_ > 0 && worked > 0 && done_ < total_) {
    eta = fmt::format(" eta {:.0f}s", secs / static_cast<double>(worked) *
                                          static_cast<double>(total_ - done_));
  }
  if (tty_) {
    constexpr int kWidth = 28;
    const int filled = static_cast<int>(frac * kWidth);
    fmt::print("\r{} [{}{}] {}/{} {:.0f}s{} {}\033[K", label_, std::string(filled, '#'),
               std::string(kWidth - filled, '.'), done_, total_, secs, eta, extra_);
    if (final_line) fmt::print("\n");
  } else {
    fmt::print("{}: {}/{} ({:.0f}%) {:.0f}s{} {}\n", label_, done_, total_, 100.0 * frac, secs,
               eta, extra_);
  }
  std::fflush(stdout);
}

}  // namespace seer::experiments
