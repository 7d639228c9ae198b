// The experiment tests/reliability/fixtures/crash_pipeline.yaml (capture -> distill -> sweep ->
// eval_ruler) on the tiny random model, run by the built `seer` as a child process, always into
// the same run folder with the same command, so that a run that was interrupted and resumed can
// be compared file by file with one that was not (outputs name their own paths).
//   const auto& reference = seer::test::reference_run();     // once per test binary
//   seer::test::ChildProcess child(seer::test::pipeline_child({}));
#pragma once

#include "child_process_util.h"

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace seer::test {

// The stage ids of the pipeline, in the order they run.
const std::vector<std::string>& pipeline_stages();

// Where the pipeline runs: runs/crash_pipeline/tiny under the reliability tests' folder.
std::filesystem::path pipeline_run_dir();
std::filesystem::path pipeline_stage_dir(const std::string& stage);
// The stage wrote its `.done` marker.
bool pipeline_stage_complete(const std::string& stage);
// Inode of the stage's `.started` marker (0 when absent): the runner rewrites it (a new file,
// renamed into place) each time the stage starts, so a new inode says a new start.
ino_t pipeline_stage_start_id(const std::string& stage);

// `seer run` of the pipeline (the model and texts are written on first use), single-threaded
// (the figures are then reproducible bit for bit, and the test shares 2 cores), plots off, with
// `extra` overrides after the fixed ones; output appended to the tests' seer.log.
ChildOptions pipeline_child(const std::vector<std::string>& extra);

// Waits while `child` runs until the stage starts anew (its start id differs from `before`);
// false when the child ended first.
bool wait_for_stage_start(ChildProcess& child, const std::string& stage, ino_t before);

struct ReferenceRun {
  std::filesystem::path dir;                      // the finished run folder, moved aside
  std::map<std::string, double> stage_seconds;    // wall time of each stage
  double seconds = 0;                             // the whole run, process start to exit
};

// One uninterrupted run of the pipeline, made by the first call in this process.
const ReferenceRun& reference_run();

// The last `lines` lines of the tests' seer.log, for failure messages.
std::string seer_log_tail(size_t lines = 30);

}  // namespace seer::test
