// One child process for the reliability tests, by POSIX fork/exec/kill/waitpid, so a test can
// SIGKILL a running `seer` at a moment it chooses, or run it under a file-size limit, and see
// how it ended without the test binary being at risk. The child's stdout and stderr go through a
// pipe to a thread of this process, which keeps them and appends them to a file: a pipe is not
// subject to the child's file-size limit, so its error message always arrives.
//   ChildOptions opts;
//   opts.argv = {SEER_CLI, "run", "quickstart"};
//   opts.output = dir / "seer.log";
//   ChildProcess child(opts);
//   ...
//   const ChildExit how = child.kill_now();   // or child.wait_for(600)
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace seer::test {

struct ChildOptions {
  std::vector<std::string> argv;                            // argv[0] is the program's path
  std::vector<std::pair<std::string, std::string>> env;     // set on top of this process's
  std::filesystem::path cwd;                                 // empty: this process's
  std::filesystem::path output;                              // stdout and stderr, appended
                                                             // (none when empty)
  // RLIMIT_FSIZE in bytes, with SIGXFSZ ignored so that a write past it fails with EFBIG (as on
  // a full disk) instead of killing the child.
  std::optional<int64_t> file_size_limit;
};

struct ChildExit {
  bool signalled = false;
  int signal = 0;      // when signalled
  int code = -1;       // exit status when not signalled
  bool timed_out = false;
  std::string describe() const;   // "exit 0", "killed by signal 9 (Killed)", "timed out"
};

class ChildProcess {
 public:
  explicit ChildProcess(const ChildOptions& opts);   // throws when fork fails
  ~ChildProcess();   // a child still running is killed and reaped
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();                                   // reaps it when it has ended
  ChildExit wait_for(double seconds);               // kills it on time-out
  ChildExit kill_now();                             // SIGKILL, then reap
  // What the child wrote to stdout and stderr; whole once it has been reaped.
  std::string output() const;

 private:
  void reap(int status);

  pid_t pid_ = -1;
  std::optional<ChildExit> exit_;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::string output_;
};

}  // namespace seer::test
