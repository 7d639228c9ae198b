// The sweep grid: list-valued keys expand into cells, each cell's config is complete, ids are
// file-name safe; and the paper-style results table.
#include "analysis/results_table.h"
#include "catch.h"
#include "core/config/config_error.h"
#include "core/config/config_reader.h"
#include "experiments/sweep_grid.h"

using namespace seer;
using seer::test::Contains;

namespace {

config::ConfigTree tree_of(const std::string& yaml) {
  config::ConfigTree t(YAML::Load(yaml));
  t.set_sources_recursive("", t.root(), "sweep.yaml");
  return t;
}

}  // namespace

TEST_CASE("sweep methods expand list-valued keys into a grid", "[eval]") {
  const auto t = tree_of(R"(
sweep:
  methods:
    dense: {policy: dense}
    gate: {policy: topk, keep_ratio: [0.5, 0.2], k: 0}
    stream: {policy: streaming, sink_blocks: [1, 2], local_blocks: [3, 9]}
eval: {context: 10}
)");
  const auto settings = experiments::expand_sweep_methods(config::ConfigReader(t, "sweep"));
  REQUIRE(settings.size() == 1 + 2 + 4);
  CHECK(settings[0].label == "dense");
  CHECK(settings[1].label == "gate keep_ratio=0.5");
  CHECK(settings[2].label == "gate keep_ratio=0.2");
  CHECK(settings[2].sparsity["keep_ratio"].as<double>() == 0.2);
  CHECK(settings[2].sparsity["k"].as<int>() == 0);
  CHECK(settings[6].label == "stream sink_blocks=2 local_blocks=9");

  const auto cell = experiments::cell_config(t, settings[2], 2048);
  CHECK(cell.at("sparsity.policy").as<std::string>() == "topk");
  CHECK(cell.at("eval.context").as<int>() == 2048);
  CHECK(t.at("eval.context").as<int>() == 10);   // the base tree is untouched
  CHECK_THAT(cell.source_of("sparsity.keep_ratio"), Contains("sweep.methods.gate"));
  CHECK(experiments::cell_id(settings[2], 2048) == "gate_keep_ratio-0.2_ctx2048");
}

TEST_CASE("sweep method errors name the method", "[eval]") {
  const auto t = tree_of("sweep:\n  methods:\n    bad: 3\n");
  try {
    experiments::expand_sweep_methods(config::ConfigReader(t, "sweep"));
    FAIL("expected a ConfigError");
  } catch (const config::ConfigError& e) {
    CHECK_THAT(std::string(e.what()), Contains("sweep.methods.bad") && Contains("sweep.yaml"));
  }
  const auto empty = tree_of("sweep:\n  methods:\n    g: {policy: topk, keep_ratio: []}\n");
  CHECK_THROWS_AS(experiments::expand_sweep_methods(config::ConfigReader(empty, "sweep")),
                  config::ConfigError);
}

TEST_CASE("results table lays methods out as rows and contexts as columns", "[eval]") {
  analysis::ResultsTable table;
  table.at("dense", "1024") = {10.0, 0.0};
  table.at("gate", "1024") = {10.5, 0.5};
  table.at("gate", "2048") = {9.25, 0.8};
  const auto md = table.to_markdown();
  CHECK_THAT(md, Contains("| method | 1024 | 2048 |"));
  CHECK_THAT(md, Contains("| dense | 10.000 (0%) | - |"));
  CHECK_THAT(md, Contains("| gate | 10.500 (50%) | 9.250 (80%) |"));
  const auto csv = table.to_csv();
  CHECK_THAT(csv, Contains("method,ppl@1024,sparsity@1024,ppl@2048,sparsity@2048"));
  CHECK_THAT(csv, Contains("gate,10.5,0.5,9.25,0.8"));
  CHECK_THAT(csv, Contains("dense,10,0,,"));
}

TEST_CASE("a sweep method may name its own gates, other grids refuse them", "[eval][config]") {
  const auto t = tree_of(R"(
sweep:
  methods:
    gate: {policy: threshold, tau: [0.01, 0.1]}
    gate_baseline: {policy: threshold, gates: distill_baseline, tau: [0.01, 0.1]}
)");
  const auto settings = experiments::expand_sweep_methods(config::ConfigReader(t, "sweep"), true);
  REQUIRE(settings.size() == 4);
  CHECK(settings[0].gates.empty());
  CHECK(settings[2].gates == "distill_baseline");
  CHECK(settings[2].label == "gate_baseline tau=0.01");
  CHECK_FALSE(settings[2].sparsity["gates"]);
  try {
    experiments::expand_sweep_methods(config::ConfigReader(t, "sweep"));
    FAIL("expected a ConfigError");
  } catch (const config::ConfigError& e) {
    CHECK_THAT(std::string(e.what()), Contains("sweep.methods.gate_baseline.gates"));
  }
  const auto list = tree_of("sweep:\n  methods:\n    g: {policy: threshold, tau: 0.1, gates: [a, b]}\n");
  try {
    experiments::expand_sweep_methods(config::ConfigReader(list, "sweep"), true);
    FAIL("expected a ConfigError");
  } catch (const config::ConfigError& e) {
    CHECK_THAT(std::string(e.what()), Contains("sweep.methods.g.gates") && Contains("one gates id"));
  }
}
