// Console output for long work: a Logger that writes to the terminal and the run's log file, and
// a Progress that draws a bar on a terminal or prints a line every few seconds otherwise.
#pragma once

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

namespace seer::experiments {

class Logger {
 public:
  Logger();                                              // console only
  explicit Logger(const std::filesystem::path& file);   // console + append to file
  ~Logger();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  void info(const std::string& line);
  template <typename... Args>
  void info(fmt::format_string<Args...> f, Args&&... args) {
    info(fmt::format(f, std::forward<Args>(args)...));
  }
  // Only to the log file (per-step detail that would flood the console). The log copies the
  // console: when the file cannot grow (a full disk) a warning says so once and the run goes on
  // without it; the outputs it cannot write stop it with their own error.
  void file_only(const std::string& line);

 private:
  struct FileCloser {
    void operator()(std::FILE* f) const;
  };
  std::filesystem::path path_;
  std::unique_ptr<std::FILE, FileCloser> file_;
};

class Progress {
 public:
  Progress(std::string label, int64_t total);
  ~Progress();
  // Advances to `done` (absolute); `extra` is shown after the counts (e.g. "loss 1.23").
  void update(int64_t done, const std::string& extra = "");
  // Advances to `done` over units that cost nothing now (done by an earlier run and resumed, or
  // reused): they count in the bar but not in the rate, so the ETA after a resume is that of the
  // units still to go.
  void update_reused(int64_t done);
  void finish(const std::string& extra = "");

 private:
  void draw(bool final_line);
  std::string label_;
  int64_t total_;
  int64_t done_ = 0;
  int64_t reused_ = 0;   // of done_, the units update_reused() advanced over
  std::string extra_;
  bool tty_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_print_;
};

}  // namespace seer::experiments
