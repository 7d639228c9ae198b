// A full disk (issue 16): each stage of the tiny pipeline runs once under a small RLIMIT_FSIZE,
// with SIGXFSZ ignored so that a write past the limit fails with EFBIG, as on a full disk. The
// stage must stop with one `seer: error:` line that names the file it was writing and the reason,
// exit status 1, and lose nothing: the stages before it still equal an uninterrupted run's, what
// it wrote is never half-trusted, and the next run without the limit resumes and finishes with an
// uninterrupted run's outputs.
//   build/tests/seer_reliability_tests "[full_disk]"
#include "catch.h"
#include "core/io/atomic_file.h"
#include "stage_outputs_util.h"
#include "tiny_pipeline_util.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>

namespace fs = std::filesystem;
using namespace seer::test;

namespace {

std::vector<std::string> error_lines(const std::string& output) {
  std::vector<std::string> out;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("seer: error:", 0) == 0) out.push_back(line);
  return out;
}

int64_t largest_file(const fs::path& dir) {
  int64_t largest = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file())
      largest = std::max<int64_t>(largest, static_cast<int64_t>(e.file_size()));
  return largest;
}

ChildExit run_pipeline(const std::vector<std::string>& extra, std::optional<int64_t> limit,
                       std::string* output = nullptr) {
  ChildOptions o = pipeline_child(extra);
  o.file_size_limit = limit;
  ChildProcess child(o);
  const ChildExit how = child.wait_for(600);
  if (output != nullptr) *output = child.output();
  return how;
}

}  // namespace

TEST_CASE("a full disk stops a stage with one line naming the file, and loses nothing",
          "[reliability][full_disk]") {
  const ReferenceRun& reference = reference_run();
  const auto& stages = pipeline_stages();
  const std::string stage = GENERATE(from_range(pipeline_stages()));
  CAPTURE(stage);
  fs::remove_all(pipeline_run_dir());
  const auto at = std::find(stages.begin(), stages.end(), stage);
  const std::vector<std::string> before(stages.begin(), at);
  if (!before.empty()) {
    const ChildExit how = run_pipeline({fmt::format("stages=[{}]", fmt::join(before, ", "))}, {});
    INFO(seer_log_tail());
    REQUIRE(how.describe() == "exit 0");
  }
  // Half the stage's largest output: the stage gets going, then one of its writes fails. The
  // files the run writes before the stage (config.yaml) must stay below it; log.txt may not (the
  // run then warns that its log goes on on the console only).
  const int64_t limit = largest_file(reference.dir / stage) / 2;
  int64_t run_files = 0;
  for (const auto& e : fs::directory_iterator(reference.dir))
    if (e.is_regular_file() && e.path().filename() != "log.txt")
      run_files = std::max<int64_t>(run_files, static_cast<int64_t>(e.file_size()));
  CAPTURE(limit, run_files);
  REQUIRE(run_files + 1024 < limit);

  std::string output;
  const ChildExit how = run_pipeline({}, limit, &output);
  INFO(output);
  CHECK(how.describe() == "exit 1");
  const auto errors = error_lines(output);
  REQUIRE(errors.size() == 1);
  fmt::print("full disk: {:<10} limit {} bytes: {}\n", stage, limit, errors[0]);
  CHECK_THAT(errors[0], Contains(pipeline_stage_dir(stage).string()));
  CHECK_THAT(errors[0], Contains("File too large"));
  CHECK(output.find("HDF5-DIAG") == std::string::npos);   // no library error stack besides
  CHECK_FALSE(pipeline_stage_complete(stage));

  for (const auto& s : before)
    for (const auto& d : stage_differences(reference.dir / s, pipeline_stage_dir(s)))
      FAIL_CHECK(fmt::format("after the failed write: {}/{}", s, d));
  for (const auto& bad : untrustworthy_files(pipeline_stage_dir(stage)))
    FAIL_CHECK(fmt::format("after the failed write: {}/{}", stage, bad));

  const ChildExit resumed = run_pipeline({}, {});
  INFO(seer_log_tail());
  REQUIRE(resumed.describe() == "exit 0");
  if (stage == "capture") {
    // The refused write came after complete windows of the same file: they were kept, not
    // captured again.
    const auto capture = nlohmann::json::parse(
        seer::io::read_file(pipeline_stage_dir("capture") / "capture.json"));
    CHECK(capture["skipped_complete"].get<int64_t>() >= 1);
  }
  for (const auto& s : stages) {
    CAPTURE(s);
    for (const auto& d : stage_differences(reference.dir / s, pipeline_stage_dir(s)))
      FAIL_CHECK(s + "/" + d);
  }
}
