// A failed run's log.txt ends with the error that stopped it, the line `seer` prints, instead of
// its last progress line.
#include "catch.h"
#include "reliability_test_util.h"

#include <sstream>

namespace fs = std::filesystem;
using seer::test::Contains;

namespace {

std::string last_line(const std::string& text) {
  std::istringstream in(text);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last;
}

}  // namespace

TEST_CASE("a failed run's log.txt ends with the error", "[reliability][log]") {
  if (!fs::exists(seer::test::embedded_model_path())) SEER_SKIP("no embedded model (scripts/fetch_model.sh)");
  const auto dir = seer::test::fresh_tmp_dir("failed_run_log");
  // Fails inside the stage, after the run folder and its log exist.
  const auto r = seer::test::run_seer(fmt::format("eval_ppl {} +run.name=fails {}",
                                                  seer::test::runs_in(dir),
                                                  seer::test::tiny_eval_split(dir)), dir);
  seer::test::check_refused(r, {"data.eval", "fewer than one window"});
  const std::string log = seer::test::read_file(dir / "runs" / "eval_ppl" / "fails" / "log.txt");
  INFO(log);
  CHECK_THAT(log, Contains("[1/1] eval_ppl:"));   // the stage had started
  CHECK(last_line(log) == r.error_lines.at(0));
}
