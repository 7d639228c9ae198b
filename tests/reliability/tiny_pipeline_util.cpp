#include "tiny_pipeline_util.h"

#include "tiny_model_util.h"

#include <fmt/format.h>

#include <sys/stat.h>

#include <chrono>
#include <deque>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace fs = std::filesystem;

namespace seer::test {
namespace {

fs::path tests_dir() { return fs::path(SEER_TEST_TMP) / "pipeline"; }
fs::path fixture_dir() { return tests_dir() / "fixture"; }
fs::path seer_log() { return tests_dir() / "seer.log"; }

// Model and texts, written once per process (their bytes depend only on the seeds).
void write_fixture_once() {
  static const bool written = [] {
    fs::remove_all(tests_dir());
    write_tiny_model(fixture_dir() / "model", 7);
    write_tiny_text(fixture_dir() / "train.txt", 16384, 1);
    write_tiny_text(fixture_dir() / "eval.txt", 4096, 2);
    return true;
  }();
  (void)written;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

const std::vector<std::string>& pipeline_stages() {
  static const std::vector<std::string> stages = {"capture", "distill", "sweep", "eval_ruler"};
  return stages;
}

fs::path pipeline_run_dir() { return tests_dir() / "runs" / "crash_pipeline" / "tiny"; }

fs::path pipeline_stage_dir(const std::string& stage) { return pipeline_run_dir() / stage; }

bool pipeline_stage_complete(const std::string& stage) {
  return fs::exists(pipeline_stage_dir(stage) / ".done");
}

ino_t pipeline_stage_start_id(const std::string& stage) {
  struct stat st {};
  return ::stat((pipeline_stage_dir(stage) / ".started").c_str(), &st) == 0 ? st.st_ino : 0;
}

ChildOptions pipeline_child(const std::vector<std::string>& extra) {
  write_fixture_once();
  ChildOptions o;
  o.argv = {SEER_CLI,
            "run",
            (fs::path(SEER_SOURCE_DIR) / "tests/reliability/fixtures/crash_pipeline.yaml").string(),
            "model.path=" + (fixture_dir() / "model").string(),
            "data.train.path=" + (fixture_dir() / "train.txt").string(),
            "data.eval.path=" + (fixture_dir() / "eval.txt").string(),
            "++run.dir=" + (tests_dir() / "runs").string(),
            "++run.name=tiny"};
  o.argv.insert(o.argv.end(), extra.begin(), extra.end());
  o.env = {{"OMP_NUM_THREADS", "1"}, {"SEER_PYTHON", "/bin/false"}, {"SEER_GIT", "test"}};
  o.cwd = SEER_SOURCE_DIR;
  o.output = seer_log();
  return o;
}

bool wait_for_stage_start(ChildProcess& child, const std::string& stage, ino_t before) {
  while (child.running()) {
    const ino_t now = pipeline_stage_start_id(stage);
    if (now != 0 && now != before) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

const ReferenceRun& reference_run() {
  static const ReferenceRun run = [] {
    ReferenceRun r;
    r.dir = tests_dir() / "reference";
    fs::remove_all(pipeline_run_dir());
    const auto t0 = std::chrono::steady_clock::now();
    ChildProcess child(pipeline_child({}));
    for (const auto& stage : pipeline_stages()) {
      if (!wait_for_stage_start(child, stage, 0)) break;
      const auto started = std::chrono::steady_clock::now();
      while (!pipeline_stage_complete(stage) && child.running())
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      r.stage_seconds[stage] = seconds_since(started);
    }
    const ChildExit how = child.wait_for(600);
    r.seconds = seconds_since(t0);
    if (how.signalled || how.code != 0 || how.timed_out)
      throw std::runtime_error(fmt::format("the uninterrupted run failed ({}):\n{}",
                                           how.describe(), seer_log_tail()));
    fs::remove_all(r.dir);
    fs::rename(pipeline_run_dir(), r.dir);
    return r;
  }();
  return run;
}

std::string seer_log_tail(size_t lines) {
  std::ifstream in(seer_log());
  std::deque<std::string> tail;
  for (std::string line; std::getline(in, line);) {
    tail.push_back(line);
    if (tail.size() > lines) tail.pop_front();
  }
  std::string out;
  for (const auto& l : tail) out += l + "\n";
  return out;
}

}  // namespace seer::test
