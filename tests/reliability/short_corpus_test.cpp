// A corpus too short for one window is an error naming the split, its path, the token count and
// the window, not a perplexity "over 3 tokens".
#include "catch.h"
#include "reliability_test_util.h"

namespace fs = std::filesystem;

TEST_CASE("a split shorter than one window is refused", "[reliability][data]") {
  if (!fs::exists(seer::test::embedded_model_path())) SEER_SKIP("no embedded model (scripts/fetch_model.sh)");
  const auto dir = seer::test::fresh_tmp_dir("short_corpus");
  const std::string tiny = seer::test::tiny_eval_split(dir);
  const std::string runs = seer::test::runs_in(dir);
  SECTION("eval_ppl") {
    seer::test::check_refused(
        seer::test::run_seer(fmt::format("eval_ppl {} {}", runs, tiny), dir),
        {"data.eval", "tiny.txt", "has 3 tokens", "fewer than one window of 1024 (eval.context)"});
  }
  SECTION("sweep") {
    seer::test::check_refused(
        seer::test::run_seer(fmt::format("paper_ppl_smoke 'stages=[sweep]' {} {}", runs, tiny), dir),
        {"data.eval", "tiny.txt", "has 3 tokens", "fewer than one window of 2048 (sweep.contexts)"});
  }
  SECTION("export_heatmaps") {
    seer::test::check_refused(
        seer::test::run_seer(
            fmt::format("quickstart 'stages=[export_heatmaps]' {} {}", runs, tiny), dir),
        {"data.eval", "tiny.txt", "fewer than one window of 2048 (heatmaps.seq_len)"});
  }
}

TEST_CASE("a stage's max_tokens shorter than one window is refused before anything runs",
          "[reliability][data]") {
  if (!fs::exists(seer::test::embedded_model_path())) SEER_SKIP("no embedded model (scripts/fetch_model.sh)");
  const auto dir = seer::test::fresh_tmp_dir("short_max_tokens");
  const std::string runs = seer::test::runs_in(dir);
  seer::test::check_refused(
      seer::test::run_seer(fmt::format("eval_ppl {} eval.context=2048 eval.max_tokens=1000", runs), dir),
      {"eval.max_tokens", "'1000'", "less than one window of eval.context = 2048"});
  seer::test::check_refused(
      seer::test::run_seer(fmt::format("paper_ppl_smoke 'stages=[sweep]' {} sweep.max_tokens=1024",
                                       runs), dir),
      {"sweep.max_tokens", "'1024'", "longest context 2048"});
  CHECK_FALSE(fs::exists(dir / "runs"));
}
