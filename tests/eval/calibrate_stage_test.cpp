// The calibrate stage: config errors name the key; end to end on the embedded model (skipped
// without it), oracle thresholds calibrated at a small context feed calibrated_threshold policies
// in a sweep over held-out text (data.calib and data.eval share no token). Each head hits its
// target on the calibration text to half a block; in the sweep layer 0 lands within 5 points of
// its calibration sparsity and the model within 10 of the target. The sweep writes equal_sparsity.md. Thresholds
// calibrated on gate scores are refused for other gates (the sweep and eval_ruler check).
#include "catch.h"
#include "eval_test_util.h"
#include "run_test_util.h"
#include "core/config/config_error.h"
#include "core/sparsity/sparsity_policy.h"
#include "experiments/policy_resources.h"
#include "experiments/runner.h"

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

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
           "++sweep={check_finite: true, contexts: [256], max_tokens: 512, chunk_size: 128, "
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
    // Layer 0 sees the held-out text's own attention (no sparse layer before it): its sparsity
    // moves only with the text, calib vs eval.
    CHECK(std::abs(c["sparsity_detail"]["layers"]["0"]["sparsity"].get<double>() -
                   (*point)["layer_achieved"][0].get<double>()) < 0.05);
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

TEST_CASE("thresholds calibrated on gate scores refuse other gates", "[eval][config]") {
  core::ThresholdTable table;
  table.tau = {{0.1f, 0.2f}};
  table.gates = "distill";
  table.gates_fingerprint = "print-of-distill";
  const config::ConfigTree cell(YAML::Load(
      "sparsity: {policy: calibrated_threshold, source: gate, thresholds: calibrate}"));
  const core::CalibratedThresholdPolicy gate_policy(core::ScoreSource::kGate, table);
  experiments::check_thresholds_fit_gates(cell, gate_policy, "print-of-distill", "distill");
  try {
    experiments::check_thresholds_fit_gates(cell, gate_policy, "print-of-other", "other_gates");
    FAIL("thresholds of other gates were accepted");
  } catch (const config::ConfigError& e) {
    CHECK_THAT(std::string(e.what()),
               Contains("sparsity.thresholds") && Contains("calibrated for the gates 'distill'") &&
                   Contains("'other_gates'"));
  }
  // G does not depend on gates: oracle thresholds fit any.
  const core::CalibratedThresholdPolicy oracle_policy(core::ScoreSource::kOracle, table);
  experiments::check_thresholds_fit_gates(cell, oracle_policy, "print-of-other", "other_gates");

  // Recalibrated thresholds change the identity that keys the cells; other policies have none.
  auto moved = table;
  moved.tau[0][1] = 0.25f;
  const core::CalibratedThresholdPolicy recalibrated(core::ScoreSource::kGate, moved);
  CHECK(experiments::thresholds_identity(gate_policy) != "");
  CHECK(experiments::thresholds_identity(gate_policy) != experiments::thresholds_identity(recalibrated));
  CHECK(experiments::thresholds_identity(core::DensePolicy()) == "");
}
