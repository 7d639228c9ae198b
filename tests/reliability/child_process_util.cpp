#include "child_process_util.h"

#include <fmt/format.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace seer::test {

std::string ChildExit::describe() const {
  if (timed_out) return "timed out";
  if (signalled) return fmt::format("killed by signal {} ({})", signal, ::strsignal(signal));
  return fmt::format("exit {}", code);
}

ChildProcess::ChildProcess(const ChildOptions& opts) {
  if (opts.argv.empty()) throw std::invalid_argument("ChildProcess: empty argv");
  // Everything the child needs is built before fork: between fork and exec only
  // async-signal-safe calls are allowed (this process has libtorch's threads).
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    const size_t eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [key, value] : opts.env) env[key] = value;
  std::vector<std::string> env_strings;
  for (const auto& [key, value] : env) env_strings.push_back(key + "=" + value);
  std::vector<char*> envp, argv;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = opts.argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  const std::string cwd = opts.cwd.string();
  const bool limit = opts.file_size_limit.has_value();
  rlimit fsize{};
  if (limit) fsize.rlim_cur = fsize.rlim_max = static_cast<rlim_t>(*opts.file_size_limit);

  int out_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error(fmt::format("pipe failed: {}", std::strerror(errno)));
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error(fmt::format("fork failed: {}", std::strerror(errno)));
  if (pid_ == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(out_pipe[1], STDOUT_FILENO);   // dup2 clears close-on-exec on the copies
    ::dup2(out_pipe[1], STDERR_FILENO);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    if (limit) {
      // An ignored signal stays ignored across exec: the child's writes then fail with EFBIG.
      struct sigaction ignore {};
      ignore.sa_handler = SIG_IGN;
      sigaction(SIGXFSZ, &ignore, nullptr);
      if (setrlimit(RLIMIT_FSIZE, &fsize) != 0) ::_exit(126);
    }
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  reader_ = std::thread([this, fd = out_pipe[0], path = opts.output] {
    std::ofstream file;
    if (!path.empty()) file.open(path, std::ios::app | std::ios::binary);
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      file.write(buf, n);
      file.flush();
      std::lock_guard<std::mutex> lock(mutex_);
      output_.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
  });
}

ChildProcess::~ChildProcess() {
  if (!exit_ && pid_ > 0) kill_now();
  if (reader_.joinable()) reader_.join();
}

std::string ChildProcess::output() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return output_;
}

void ChildProcess::reap(int status) {
  // The pipe closes once the child (and anything it started) has exited: then the output is whole.
  if (reader_.joinable()) reader_.join();
  ChildExit e;
  e.signalled = WIFSIGNALED(status);
  if (e.signalled) e.signal = WTERMSIG(status);
  if (WIFEXITED(status)) e.code = WEXITSTATUS(status);
  exit_ = e;
}

bool ChildProcess::running() {
  if (exit_) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    reap(status);
    return false;
  }
  return r == 0;
}

ChildExit ChildProcess::wait_for(double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (running()) {
    if (std::chrono::steady_clock::now() > deadline) {
      ChildExit e = kill_now();
      e.timed_out = true;
      exit_ = e;
      return e;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return *exit_;
}

ChildExit ChildProcess::kill_now() {
  if (exit_) return *exit_;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  reap(status);
  return *exit_;
}

}  // namespace seer::test
