// One run per run folder (experiments/run_lock.h): a second run on a folder in use fails at once,
// naming the folder and the PID of the run holding it, and writes nothing there; a SIGKILLed run
// leaves no lock behind.
#include "catch.h"
#include "experiments/run_lock.h"
#include "reliability_test_util.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace fs = std::filesystem;
using seer::test::Contains;

namespace {

// Starts `seer run ARGS` in the background, its output in `log`; returns its PID.
pid_t start_seer_run(const std::vector<std::string>& args, const fs::path& log) {
  std::vector<std::string> words = {SEER_CLI, "run"};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {   // only async-signal-safe calls until exec
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ::dup2(fd, 1) < 0 || ::dup2(fd, 2) < 0 || ::chdir(SEER_SOURCE_DIR) != 0) ::_exit(127);
    ::execv(SEER_CLI, argv.data());
    ::_exit(127);
  }
  return pid;
}

// Waits until `file` holds `text` (true), or the process `pid` has ended or a minute has passed.
bool wait_for_text(const fs::path& file, const std::string& text, pid_t pid) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  while (std::chrono::steady_clock::now() < deadline) {
    if (seer::test::read_file(file).find(text) != std::string::npos) return true;
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

}  // namespace

TEST_CASE("a run folder's lock is exclusive and names its holder", "[reliability][lock]") {
  const auto dir = seer::test::fresh_tmp_dir("lock_exclusive");
  {
    const seer::experiments::RunLock held(dir);
    // Another open of the lock file is refused even inside one process (flock locks belong to the
    // open file, not to the process).
    CHECK_THROWS_WITH(seer::experiments::RunLock(dir),
                      Contains(dir.string()) && Contains(fmt::format("PID {}", ::getpid())));
  }
  CHECK_NOTHROW(seer::experiments::RunLock(dir));   // released with its holder
}

TEST_CASE("seer run on a folder whose lock is held fails at once and writes nothing there",
          "[reliability][lock]") {
  if (!fs::exists(seer::test::embedded_model_path())) SEER_SKIP("no embedded model (scripts/fetch_model.sh)");
  const auto dir = seer::test::fresh_tmp_dir("lock_held");
  const fs::path run_dir = dir / "runs" / "eval_ppl" / "held";
  fs::create_directories(run_dir);
  const seer::experiments::RunLock held(run_dir);
  const auto r = seer::test::run_seer(fmt::format("eval_ppl {} +run.name=held", seer::test::runs_in(dir)), dir);
  seer::test::check_refused(r, {run_dir.string(), fmt::format("PID {}", ::getpid()),
                                "another seer run"});
  CHECK_FALSE(fs::exists(run_dir / "log.txt"));
  CHECK_FALSE(fs::exists(run_dir / "config.yaml"));
}

TEST_CASE("a second seer run on a folder in use fails; a SIGKILLed run leaves no lock",
          "[reliability][lock]") {
  if (!fs::exists(seer::test::embedded_model_path())) SEER_SKIP("no embedded model (scripts/fetch_model.sh)");
  const auto dir = seer::test::fresh_tmp_dir("lock_two_runs");
  const fs::path run_dir = dir / "runs" / "eval_ppl" / "shared";
  const std::string runs = "++run.dir=" + (dir / "runs").string();
  // The whole eval split, 116k tokens: minutes on a CPU, far longer than the test needs it.
  const pid_t first = start_seer_run({"eval_ppl", runs, "+run.name=shared", "eval.max_tokens=0"},
                                     dir / "first.log");
  REQUIRE(first > 0);
  // log.txt is opened after the lock is taken.
  const bool holding = wait_for_text(run_dir / "log.txt", "seer run eval_ppl", first);
  if (!holding) ::kill(first, SIGKILL);
  INFO(seer::test::read_file(dir / "first.log"));
  REQUIRE(holding);

  const auto second = seer::test::run_seer(
      fmt::format("eval_ppl '{}' +run.name=shared eval.max_tokens=0", runs), dir);
  seer::test::check_refused(second, {run_dir.string(), fmt::format("PID {}", first)});

  REQUIRE(::kill(first, SIGKILL) == 0);
  int status = 0;
  REQUIRE(::waitpid(first, &status, 0) == first);
  CHECK(WIFSIGNALED(status));
  CHECK(fs::exists(run_dir / ".lock"));   // the file stays; the lock went with the process

  // The next run in that folder gets past the lock and stops at its own input (a corpus too short
  // for one window), not at the dead run's lock.
  const auto third = seer::test::run_seer(
      fmt::format("eval_ppl '{}' +run.name=shared {}", runs, seer::test::tiny_eval_split(dir)), dir);
  seer::test::check_refused(third, {"data.eval", "fewer than one window"});
  CHECK_THAT(third.output, !Contains("another seer run"));
}
