#include "experiments/launch.h"

#include "core/config/compose.h"
#include "experiments/rank_processes.h"
#include "experiments/runner.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace fs = std::filesystem;

namespace seer::experiments {

const char* const kLaunchHelp = R"(seer launch --nproc N [--all-ranks] COMMAND [ARGS]

Starts N processes of this seer on this host, each running `seer COMMAND ARGS` as one rank of a
multi-process run, with the variables torchrun sets: RANK and LOCAL_RANK (0..N-1), WORLD_SIZE and
LOCAL_WORLD_SIZE (N), MASTER_ADDR (127.0.0.1) and MASTER_PORT ($MASTER_PORT, else a free port).
The ranks meet through c10d's TCPStore on rank 0 and train over gloo (CPU) or NCCL (cuda).

  --nproc N      processes to start (one per GPU for GPU training)
  --all-ranks    also show the standard output of ranks > 0, each line prefixed [rank R]

Output: rank 0's output comes through as it is (the same lines its run's log.txt gets). The other
ranks' stderr (errors, warnings) is shown prefixed [rank R]; their stdout only repeats rank 0's
lines (losses are summed over the ranks), so it is dropped unless --all-ranks.
If a rank fails (an error or a signal), the others get SIGTERM (SIGKILL 10 s later) and launch
exits with status 1, naming the rank and its exit status or signal. Launching the same run again
resumes it, with any N. OMP_NUM_THREADS, when unset, becomes cores / N (at least 1), so that the
ranks do not fight over the cores.

What runs sharded: distillation (each rank reads its part of every step's windows; the gates equal
one process's at the same train.batch), sweep (its cells), eval_ruler and eval_longbench (the
samples of each cell): the k-th cell or sample still to run goes to rank k % N, each result goes to
rank 0 through the rendezvous store, and rank 0 writes the tables and files a one-process run
writes, in the same order. Other stages run on rank 0 while the others wait.

Examples:
  seer launch --nproc 2 run quickstart
  torchrun --nproc-per-node 2 --no-python build/seer run quickstart        (the same, by torchrun)
  srun --ntasks 2 build/seer run quickstart          (Slurm: SLURM_PROCID / SLURM_NTASKS are read)
)";

namespace {

struct LaunchOptions {
  int nproc = 0;
  bool all_ranks = false;
  std::vector<std::string> command;   // COMMAND ARGS
};

LaunchOptions parse_launch_options(const std::vector<std::string>& args) {
  LaunchOptions o;
  size_t i = 0;
  for (; i < args.size() && args[i].rfind("--", 0) == 0; ++i) {
    const std::string& a = args[i];
    std::string value;
    if (a == "--nproc") {
      if (i + 1 >= args.size()) throw std::invalid_argument("launch: --nproc needs a number");
      value = args[++i];
    } else if (a.rfind("--nproc=", 0) == 0) {
      value = a.substr(8);
    } else if (a == "--all-ranks") {
      o.all_ranks = true;
      continue;
    } else {
      throw std::invalid_argument(fmt::format(
          "launch: unknown option '{}' (options: --nproc N, --all-ranks; see `seer help launch`)",
          a));
    }
    size_t used = 0;
    try {
      o.nproc = std::stoi(value, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != value.size() || o.nproc < 1)
      throw std::invalid_argument(
          fmt::format("launch: --nproc '{}': expected a number >= 1", value));
  }
  o.command.assign(args.begin() + static_cast<long>(i), args.end());
  if (o.nproc == 0)
    throw std::invalid_argument("launch: --nproc N is required (see `seer help launch`)");
  if (o.command.empty())
    throw std::invalid_argument(
        "launch: missing the command to run, e.g. `seer launch --nproc 2 run quickstart`");
  if (o.command.front() == "launch") throw std::invalid_argument("launch: cannot launch `launch`");
  return o;
}

// A port nobody listens on now (the kernel picks it); rank 0 binds it a moment later.
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("launch: cannot open a socket to find a free port");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  if (!ok) throw std::runtime_error("launch: cannot bind a socket to find a free port");
  return ntohs(addr.sin_port);
}

std::string self_executable() {
  std::error_code ec;
  const auto p = fs::read_symlink("/proc/self/exe", ec);
  if (ec)
    throw std::runtime_error("launch: cannot find this program (/proc/self/exe): " + ec.message());
  return p.string();
}

// This process's environment without the variables launch sets, plus `set`.
std::vector<std::string> child_environment(
    const std::vector<std::pair<std::string, std::string>>& set) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    if (std::none_of(set.begin(), set.end(), [&](const auto& kv) { return kv.first == name; }))
      env.push_back(entry);
  }
  for (const auto& [name, value] : set) env.push_back(name + "=" + value);
  return env;
}

}  // namespace

int run_launch_command(const fs::path& config_dir, const std::vector<std::string>& args) {
  const auto opts = parse_launch_options(args);
  if (const char* rank = std::getenv("RANK"))
    throw std::invalid_argument(fmt::format(
        "launch: RANK={} is set: this process is already one rank of a launch (seer launch, "
        "torchrun); run `seer {}` there instead", rank, opts.command.front()));
  const bool is_run = opts.command.front() == "run";
  if (is_run && opts.command.size() > 1) {
    // A typo in the config fails here once, not once per rank.
    config::ComposeRequest req;
    req.config_dir = config_dir;
    req.experiment = opts.command[1];
    req.overrides.assign(opts.command.begin() + 2, opts.command.end());
    validate_experiment(select_stages(config::compose(req)).full);
  }

  const char* port_env = std::getenv("MASTER_PORT");
  const std::string port =
      port_env != nullptr && *port_env ? port_env : std::to_string(free_port());
  std::vector<std::pair<std::string, std::string>> common = {
      {"WORLD_SIZE", std::to_string(opts.nproc)},
      {"LOCAL_WORLD_SIZE", std::to_string(opts.nproc)},
      {"MASTER_ADDR", "127.0.0.1"},
      {"MASTER_PORT", port}};
  if (std::getenv("OMP_NUM_THREADS") == nullptr && opts.nproc > 1) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const int threads = std::max(1, cores / opts.nproc);
    common.emplace_back("OMP_NUM_THREADS", std::to_string(threads));
    fmt::print("seer launch: {} processes on {} cores, OMP_NUM_THREADS={} each (set "
               "OMP_NUM_THREADS to choose)\n", opts.nproc, cores, threads);
  }
  RankProcessSpec spec;
  spec.program = self_executable();
  spec.args = {"--config-dir", config_dir.string()};
  spec.args.insert(spec.args.end(), opts.command.begin(), opts.command.end());
  spec.all_output = opts.all_ranks;
  for (int rank = 0; rank < opts.nproc; ++rank) {
    auto vars = common;
    vars.emplace_back("RANK", std::to_string(rank));
    vars.emplace_back("LOCAL_RANK", std::to_string(rank));
    spec.envs.push_back(child_environment(vars));
  }
  fmt::print("seer launch: {} ranks, rendezvous at 127.0.0.1:{}: seer {}\n", opts.nproc, port,
             fmt::join(opts.command, " "));
  std::fflush(stdout);

  const auto result = run_rank_processes(spec);
  const std::string resume =
      is_run ? "; the same command resumes the run (with any --nproc)" : "";
  if (result.failures.empty() && result.interrupted_by == 0) return 0;
  if (result.failures.empty())
    throw std::runtime_error(fmt::format(
        "launch: interrupted (signal {}); the ranks were stopped{}", result.interrupted_by, resume));
  const auto& first = result.failures.front();
  std::string text = fmt::format("launch: rank {} of {} (pid {}) {}", first.rank, opts.nproc,
                                 first.pid, describe_exit_status(first.status));
  for (size_t i = 1; i < result.failures.size(); ++i)
    text += fmt::format("; then rank {} {}", result.failures[i].rank,
                        describe_exit_status(result.failures[i].status));
  if (static_cast<int>(result.failures.size()) < opts.nproc)
    text += "; the other ranks were stopped";
  throw std::runtime_error(text + resume);
}

}  // namespace seer::experiments
