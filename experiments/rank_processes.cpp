#include "experiments/rank_processes.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace seer::experiments {
namespace {

using Clock = std::chrono::steady_clock;

// Signal handlers only note the signal and wake the poll loop through this pipe.
int g_wake_write = -1;
volatile sig_atomic_t g_interrupted_by = 0;

void on_signal(int sig) {
  if (sig != SIGCHLD) g_interrupted_by = sig;
  const int saved = errno;
  const char c = 0;
  (void)!write(g_wake_write, &c, 1);
  errno = saved;
}

void make_pipe(int fds[2]) {
  if (pipe2(fds, O_CLOEXEC) != 0)
    throw std::runtime_error(fmt::format("launch: pipe: {}", std::strerror(errno)));
}

// One pipe from a child: bytes in, whole lines out with the rank's prefix.
struct OutputPipe {
  int fd = -1;
  int rank = 0;
  std::FILE* to = stderr;
  std::string partial;

  void emit(const std::string& line) const {
    fmt::print(to, "[rank {}] {}\n", rank, line);
    std::fflush(to);
  }
  // Reads what is there; false at end of file.
  bool read_some() {
    char buf[4096];
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    if (n <= 0) {
      if (!partial.empty()) emit(partial);
      partial.clear();
      return false;
    }
    partial.append(buf, static_cast<size_t>(n));
    for (size_t nl; (nl = partial.find('\n')) != std::string::npos;) {
      emit(partial.substr(0, nl));
      partial.erase(0, nl + 1);
    }
    return true;
  }
};

// The argv / envp arrays execve wants, built before fork (the child may only call
// async-signal-safe functions).
std::vector<char*> c_strings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

bool failed(int status) { return !(WIFEXITED(status) && WEXITSTATUS(status) == 0); }

class SignalGuard {
 public:
  explicit SignalGuard(int wake_write) {
    g_wake_write = wake_write;
    g_interrupted_by = 0;
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (int sig : {SIGCHLD, SIGINT, SIGTERM}) sigaction(sig, &sa, &old_[index(sig)]);
  }
  ~SignalGuard() {
    for (int sig : {SIGCHLD, SIGINT, SIGTERM}) sigaction(sig, &old_[index(sig)], nullptr);
  }

 private:
  static int index(int sig) { return sig == SIGCHLD ? 0 : sig == SIGINT ? 1 : 2; }
  struct sigaction old_[3];
};

}  // namespace

std::string describe_exit_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* abbrev = sigabbrev_np(sig);
    return fmt::format("was killed by signal {} (SIG{}){}", sig, abbrev ? abbrev : "?",
                       WCOREDUMP(status) ? ", core dumped" : "");
  }
  return fmt::format("ended with wait status {}", status);
}

RankProcessesResult run_rank_processes(const RankProcessSpec& spec) {
  const int n = static_cast<int>(spec.envs.size());
  int wake[2];
  make_pipe(wake);
  fcntl(wake[0], F_SETFL, O_NONBLOCK);
  fcntl(wake[1], F_SETFL, O_NONBLOCK);
  SignalGuard signals(wake[1]);

  std::vector<std::string> argv_strings = {spec.program};
  argv_strings.insert(argv_strings.end(), spec.args.begin(), spec.args.end());
  const auto argv = c_strings(argv_strings);
  const int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  const pid_t parent = getpid();

  std::vector<pid_t> pids(n, -1);
  std::vector<OutputPipe> pipes;
  for (int rank = 0; rank < n; ++rank) {
    int out[2] = {-1, -1}, err[2] = {-1, -1};
    if (rank > 0) {
      make_pipe(err);
      if (spec.all_output) make_pipe(out);
    }
    const auto envp = c_strings(spec.envs[rank]);
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error(fmt::format("launch: fork: {}", std::strerror(errno)));
    if (pid == 0) {
      // Dies with the launcher, whatever kills it, so no rank is left waiting for the others.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      if (rank > 0) {
        dup2(spec.all_output ? out[1] : devnull, STDOUT_FILENO);
        dup2(err[1], STDERR_FILENO);
      }
      execve(spec.program.c_str(), argv.data(), envp.data());
      const char msg[] = "seer launch: cannot execute the rank's program\n";
      (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
      _exit(127);
    }
    pids[rank] = pid;
    for (int* p : {out, err}) {
      if (p[1] >= 0) close(p[1]);
      if (p[0] < 0) continue;
      fcntl(p[0], F_SETFL, O_NONBLOCK);
      pipes.push_back({p[0], rank, p == out ? stdout : stderr, ""});
    }
  }
  if (devnull >= 0) close(devnull);

  RankProcessesResult result;
  int alive = n;
  bool stopping = false, killed = false;
  Clock::time_point deadline;
  auto signal_alive = [&](int sig) {
    for (pid_t pid : pids)
      if (pid > 0) kill(pid, sig);
  };
  while (alive > 0 || !pipes.empty()) {
    std::vector<pollfd> fds = {{wake[0], POLLIN, 0}};
    for (const auto& p : pipes) fds.push_back({p.fd, POLLIN, 0});
    poll(fds.data(), fds.size(), alive > 0 ? 200 : 50);
    char drain[64];
    while (read(wake[0], drain, sizeof drain) > 0) {
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      auto it = std::find_if(pipes.begin(), pipes.end(),
                             [&](const OutputPipe& p) { return p.fd == fds[i].fd; });
      if (!it->read_some()) {
        close(it->fd);
        pipes.erase(it);
      }
    }
    // Reap everything that ended; a signal death goes first among those of one pass.
    std::vector<RankExit> ended;
    int status = 0;
    for (pid_t pid; alive > 0 && (pid = waitpid(-1, &status, WNOHANG)) > 0;) {
      const auto at = std::find(pids.begin(), pids.end(), pid);
      if (at == pids.end()) continue;
      ended.push_back({static_cast<int>(at - pids.begin()), pid, status});
      *at = -1;
      --alive;
    }
    std::stable_sort(ended.begin(), ended.end(), [](const RankExit& a, const RankExit& b) {
      return WIFSIGNALED(a.status) && !WIFSIGNALED(b.status);
    });
    // After an interrupt, ranks ending by the same Ctrl-C are not failures of their own.
    for (const auto& e : ended)
      if (!stopping && g_interrupted_by == 0 && failed(e.status)) result.failures.push_back(e);
    if (!stopping && (!result.failures.empty() || g_interrupted_by != 0)) {
      stopping = true;
      result.interrupted_by = g_interrupted_by;
      deadline = Clock::now() + spec.grace;
      if (alive > 0) {
        const std::string why =
            result.failures.empty()
                ? fmt::format("interrupted (SIG{})", sigabbrev_np(result.interrupted_by))
                : fmt::format("rank {} {}", result.failures.front().rank,
                              describe_exit_status(result.failures.front().status));
        fmt::print(stderr, "seer launch: {}; stopping the other ranks\n", why);
        std::fflush(stderr);
        signal_alive(SIGTERM);
      }
    }
    if (stopping && !killed && alive > 0 && Clock::now() > deadline) {
      signal_alive(SIGKILL);
      killed = true;
    }
  }
  close(wake[0]);
  close(wake[1]);
  return result;
}

}  // namespace seer::experiments
