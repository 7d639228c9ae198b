// The export_heatmaps stage end to end with the embedded model (skipped when assets/models is
// absent) and seeded random gates: with `heatmaps.setting` the mask drawn is that sweep row's
// (quickstart's "gate tau=0.02", sink kept), checked element by element against the P panel,
// and the title and heatmaps.json name the row; without it, the `sparsity` section's
// (tau 0.002, no sink); a label that is no row is refused naming the rows.
#include "catch.h"
#include "eval_test_util.h"
#include "run_test_util.h"
#include "core/gate/gate_file.h"
#include "core/gate/gate_set.h"
#include "core/model/model_spec.h"
#include "experiments/gate_folders.h"
#include "experiments/cli.h"

#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
using namespace seer;
using seer::test::Contains;

namespace {

const fs::path kModel = test::embedded_model_path();

// Seeded random gates for the embedded model (30 layers, 9 query / 3 key-value heads, D 64), in
// 32-token blocks; their scores are spread enough that tau = 0.02 keeps some blocks and not others.
fs::path random_gates(const fs::path& dir) {
  core::GateConfig cfg;
  cfg.block_size = 32;
  cfg.hidden_size = 64;
  cfg.init_std = 0.5;
  core::GateRope rope;
  rope.rope.theta = 100000.0;
  rope.max_position_embeddings = 8192;
  const auto set = core::GateSet::init(cfg, {9, 3, 64}, rope, 30, kModel.string());
  core::save_gates(set, dir);
  return dir;
}

// Every causal (i, j) of the mask panel against the threshold rule on the P panel.
void check_threshold_mask(const nlohmann::json& panels, double tau, bool keep_sink) {
  const auto& p = panels[1]["matrix"];
  const auto& mask = panels[2]["matrix"];
  REQUIRE(p.size() == mask.size());
  int64_t kept = 0, skipped = 0;
  for (size_t i = 0; i < p.size(); ++i)
    for (size_t j = 0; j <= i; ++j) {
      CAPTURE(i, j, p[i][j].get<double>());
      const bool want = j == i || (keep_sink && j == 0) || p[i][j].get<double>() > tau;
      CHECK(mask[i][j].get<double>() == (want ? 1.0 : 0.0));
      (want ? kept : skipped)++;
    }
  CHECK(kept > 0);
  CHECK(skipped > 0);   // a mask that keeps everything would check nothing
}

}  // namespace

TEST_CASE("export_heatmaps draws the mask of the sweep row it names", "[eval]") {
  if (!fs::exists(kModel)) SEER_SKIP("no embedded model (scripts/fetch_model.sh): " + kModel.string());
  const fs::path dir = fs::path(SEER_TEST_TMP) / "export_heatmaps";
  fs::remove_all(dir);
  const fs::path gates = random_gates(dir / "gates");
  // Through the command line, as a user runs part of an experiment (`stages=[...]`).
  const std::vector<std::string> common = {
      "--config-dir", std::string(SEER_SOURCE_DIR) + "/configs", "run", "quickstart",
      "++run.dir=" + (dir / "runs").string(), "stages=[export_heatmaps]",
      "heatmaps.gates=" + gates.string(), "heatmaps.layers=[3]", "heatmaps.heads=[0]",
      "heatmaps.seq_len=320"};   // 10 blocks of 32

  SECTION("a sweep row") {
    auto overrides = common;
    overrides.push_back("++run.name=row");
    REQUIRE(experiments::run_cli(overrides) == 0);
    const fs::path stage = dir / "runs" / "quickstart" / "row" / "export_heatmaps";
    CHECK(fs::exists(stage / "heatmap_L03_H00.png"));
    const auto index = nlohmann::json::parse(test::read_file(stage / "heatmaps.json"));
    CHECK(index["mask"] == "'gate tau=0.02' (sweep setting)");
    const auto spec = nlohmann::json::parse(test::read_file(stage / "heatmap_L03_H00.json"));
    CHECK_THAT(spec["title"].get<std::string>(), Contains("mask of 'gate tau=0.02'"));
    check_threshold_mask(spec["panels"], 0.02, true);
  }
  SECTION("no row: the sparsity section") {
    auto overrides = common;
    overrides.push_back("++run.name=section");
    overrides.push_back("~heatmaps.setting");
    REQUIRE(experiments::run_cli(overrides) == 0);
    const fs::path stage = dir / "runs" / "quickstart" / "section" / "export_heatmaps";
    const auto spec = nlohmann::json::parse(test::read_file(stage / "heatmap_L03_H00.json"));
    CHECK_THAT(spec["title"].get<std::string>(), Contains("threshold (the sparsity section)"));
    check_threshold_mask(spec["panels"], 0.002, false);
  }
  SECTION("a label that is no row") {
    auto overrides = common;
    overrides.push_back("heatmaps.setting=gate tau=0.5");
    CHECK_THROWS_WITH(experiments::run_cli(overrides),
                      Contains("heatmaps.setting") && Contains("'gate tau=0.02'"));
  }
}
