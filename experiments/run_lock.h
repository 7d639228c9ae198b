// One `seer run` per run folder at a time. Two runs in one folder would interleave their log lines,
// move each other's outputs to <stage>.previous/ and write the same files, so a run holds an
// advisory lock (flock) on <run folder>/.lock while it uses the folder, and a second run fails at
// once naming the folder and the PID of the run that holds it. The kernel drops the lock when the
// process ends, however it ends (a SIGKILLed run leaves no stale lock).
#pragma once

#include <filesystem>

namespace seer::experiments {

class RunLock {
 public:
  // Takes the lock of `run_dir` (which must exist) or throws std::runtime_error naming the folder
  // and the holder's PID.
  explicit RunLock(const std::filesystem::path& run_dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace seer::experiments
