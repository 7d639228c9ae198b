// The child processes of `seer launch` (experiments/launch.h): starts one per rank, forwards their
// output, and waits for all of them; when one fails the others are stopped at once, since a
// data-parallel run cannot go on without any of its ranks.
//
// Output: rank 0 writes straight to this process's stdout and stderr (a terminal stays a
// terminal: its progress bar works), the others through pipes, each line prefixed "[rank R] ":
// their stderr always, their stdout only with `all_output` (otherwise it goes to /dev/null).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace seer::experiments {

struct RankProcessSpec {
  std::string program;                          // absolute path of the executable
  std::vector<std::string> args;                // argv[1..], the same for every rank
  std::vector<std::vector<std::string>> envs;   // per rank: its whole environment, "NAME=value"
  bool all_output = false;
  std::chrono::seconds grace{10};               // SIGTERM, then SIGKILL after this long
};

struct RankExit {
  int rank = 0;
  pid_t pid = 0;
  int status = 0;        // as waitpid reports it
};

struct RankProcessesResult {
  // Ranks that failed on their own (an exit status other than 0, or a signal), in the order they
  // ended, a rank killed by a signal first among those that ended together (an error exit is
  // often a consequence: its collective lost a peer). Ranks stopped by us are not in it.
  std::vector<RankExit> failures;
  int interrupted_by = 0;   // SIGINT / SIGTERM that this process received, 0 if none
};

// Runs the ranks until every one has exited.
RankProcessesResult run_rank_processes(const RankProcessSpec& spec);

// "exited with status 1", "was killed by signal 9 (SIGKILL)".
std::string describe_exit_status(int status);

}  // namespace seer::experiments
