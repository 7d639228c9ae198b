// The calibrate stage: config errors name the key; end to end on the embedded model (skipped
// without it), oracle thresholds calibrated at a small context feed calibrated_threshold policies
// in a sweep over the same text. Layer 0 sees the same input in both runs, so its measured
// sparsity in the sweep equals its calibration sparsity exactly; later layers see the sparse
// model's activations and land near the target. The sweep writes equal_sparsity.md.
#include "catch.h"
#include "eval_test_util.h"
#include "run_test_util.h"
#include "core/config/config_error.h"
#include "experiments/runner.h"

#include <nlohmann/json.hpp>

#include <cmath>

namespace fs = std::filesystem;
using namespace seer;
using seer::test::Contains;

namespace {

const std::string kCalibrate =
    "++calibrate={contexts: [256], windows: 2, chunk_size: 128, "
    "targets: [0.2, 0.45], granularity: [head, global], sources: [oracle], keep_sink: false}";

std::string validation_error(std::vector<std::string> overrides) {
  overrides.push_back("stages=[calibrate]");
  overrides.push_back("~eval");   // no stage here reads it
  try {
    experiments::validate_experiment(test::compose_experiment("eval_ppl", overrides).tree);
  } catch (const config::ConfigError& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace

TEST_CASE("calibrate config errors name the key", "[eval][config]") {
  CHECK(validation_error({kCalibrate}) == "<no error>");
  CHECK_THAT(validation_error({kCalibrate, "calibrate.targets=[0.5, 1.5]"}),
             Contains("calibrate.targets") && Contains("1.5"));
  CHECK_THAT(validation_error({kCalibrate, "calibrate.targets=[0.5, 0.5]"}),
             Contains("listed twice"));
  CHECK_THAT(validation_error({kCalibrate, "calibrate.sources=[gate, oracle]"}),
             Contains("calibrate.gates"));
  CHECK_THAT(validation_error({kCalibrate, "calibrate.granularity=[heads]"}),
             Contains("calibrate.granularity") && Contains("head | layer | global"));
  CHECK_THAT(validation_error({kCalibrate, "calibrate.sources=[]"}), Contains("calibrate.sources"));
  CHECK_THAT(validation_error({kCalibrate, "+calibrate.tau=0.1"}), Contains("calibrate.tau"));
}

TEST_CASE("calibrated oracle thresholds hit their target in the sweep", "[eval]") {
  if (!fs::exists(test::embedded_model_path()))
    SEER_SKIP("no embedded model (scripts/fetch_model.sh): " + test::embedded_model_path().string());
  const fs::path dir = fs::path(SEER_TEST_TMP) / "calibrate_stage";
  fs::remove_all(dir);
  const auto result = experiments::run_experiment(
      test::compose_experiment(
          "eval_ppl",
          {"++run.dir=" + dir.string(), "++run.name=t", "stages=[calibrate, sweep]", kCalibrate,
           "++sweep={contexts: [256], max_tokens: 512, chunk_size: 128, "
           "methods: {oracle_cal: {policy: calibrated_threshold, "
           "source: oracle, thresholds: calibrate, granularity: head, target_sparsity: [0.2, 0.45]}, "
           "streaming: {policy: streaming, local_blocks: 2}}}"}),
      "eval_ppl");
  const fs::path cal = result.run_dir / "calibrate";
  const auto th = nlohmann::json::parse(test::read_file(cal / "thresholds.json"));
  CHECK(th["format"] == "seer-calibrated-thresholds");
  CHECK(th["num_layers"] == 30);
  CHECK(th["keep_sink"] == false);
  const auto& points = th["contexts"]["256"]["points"];
  REQUIRE(points.size() == 2 * 2);   // (head, global) x 2 targets, oracle only
  CHECK_THAT(test::read_file(cal / "calibration.md"), Contains("| head | 20% |"));

  const auto cells = nlohmann::json::parse(test::read_file(result.run_dir / "sweep/results.json"))["cells"];
  int checked = 0;
  for (const auto& c : cells) {
    if (c["method"] != "oracle_cal") continue;
    const double target = c["sparsity_config"]["target_sparsity"].get<double>();
    CAPTURE(target);
    const nlohmann::json* point = nullptr;
    for (const auto& p : points)
      if (p["granularity"] == "head" && std::abs(p["target"].get<double>() - target) < 1e-9) point = &p;
    REQUIRE(point != nullptr);
    // 2 windows x 10 causal blocks per head (4 of them diagonal): each head within half a block.
    CHECK(std::abs((*point)["achieved"].get<double>() - target) <= 0.025 + 1e-12);
    CHECK(c["sparsity_detail"]["layers"]["0"]["sparsity"].get<double>() ==
          Approx((*point)["layer_achieved"][0].get<double>()).epsilon(0).margin(1e-12));
    CHECK(std::abs(c["sparsity"].get<double>() - target) < 0.1);
    CHECK(c["calibration_sparsity"].get<double>() == (*point)["achieved"].get<double>());
    ++checked;
  }
  CHECK(checked == 2);
  const auto md = test::read_file(result.run_dir / "sweep/equal_sparsity.md");
  CHECK_THAT(md, Contains("| oracle_cal |") && Contains("| streaming |"));
  for (const char* f : {"equal_sparsity.csv", "equal_sparsity.json"})
    CHECK(fs::exists(result.run_dir / "sweep" / f));
}
