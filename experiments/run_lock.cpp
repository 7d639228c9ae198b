#include "experiments/run_lock.h"

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <string>
#include <sys/file.h>
#include <thread>
#include <unistd.h>

namespace seer::experiments {
namespace {

std::string read_all(int fd) {
  std::string text;
  char buf[64];
  off_t at = 0;
  for (ssize_t n; (n = ::pread(fd, buf, sizeof buf, at)) > 0; at += n)
    text.append(buf, static_cast<size_t>(n));
  return text;
}

// The PID the holder wrote into the lock file. A holder writes it just after taking the lock, so
// an empty file is read again for a moment before the PID is called unknown.
std::string holder_pid(int fd) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    std::string text = read_all(fd);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    if (!text.empty()) return text;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return "unknown";
}

}  // namespace

RunLock::RunLock(const std::filesystem::path& run_dir) {
  const std::filesystem::path file = run_dir / ".lock";
  // O_CLOEXEC: a child process (a plot script) must not inherit the lock and outlive the run
  // holding it.
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw std::runtime_error(fmt::format("{}: cannot open the run folder's lock file: {}",
                                         file.string(), std::strerror(errno)));
  }
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    const std::string pid = err == EWOULDBLOCK ? holder_pid(fd_) : "";
    ::close(fd_);
    fd_ = -1;
    if (err != EWOULDBLOCK) {
      throw std::runtime_error(
          fmt::format("{}: cannot lock the run folder: {}", file.string(), std::strerror(err)));
    }
    throw std::runtime_error(fmt::format(
        "{}: another seer run (PID {}) is using this run folder; wait for it to end or stop it, "
        "or give this run another folder (+run.name=NAME)", run_dir.string(), pid));
  }
  // The file outlives the run (removing it would race with a run that has just opened it); only
  // its PID changes.
  const std::string pid = fmt::format("{}\n", ::getpid());
  if (::ftruncate(fd_, 0) != 0 ||
      ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error(
        fmt::format("{}: cannot write the run's PID: {}", file.string(), std::strerror(err)));
  }
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);   // closing the only descriptor releases the flock
}

}  // namespace seer::experiments
