// The sweep stage end to end with the embedded model (skipped when assets/models is absent): a
// dense and a streaming cell at one context, the table, results.json with the per-layer / per-head
// sparsity, and both plots. The streaming sparsity is checked against a count by hand.
#include "catch.h"
#include "eval_test_util.h"
#include "run_test_util.h"
#include "experiments/runner.h"

#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
using namespace seer;
using seer::test::Contains;

namespace {

const fs::path kModel = test::embedded_model_path();

}  // namespace

TEST_CASE("sweep writes the table, per-layer and per-head sparsity and its plots", "[eval]") {
  if (!fs::exists(kModel)) SEER_SKIP("no embedded model (scripts/fetch_model.sh): " + kModel.string());
  const fs::path dir = fs::path(SEER_TEST_TMP) / "sweep_stage";
  fs::remove_all(dir);
  const auto result = experiments::run_experiment(
      test::compose_experiment("eval_ppl",
              {"++run.dir=" + dir.string(), "++run.name=t", "stages=[sweep]",
               "++sweep={check_finite: true, contexts: [256], max_tokens: 512, chunk_size: 128, "
               "methods: {dense: {policy: dense}, "
               "streaming: {policy: streaming, sink_blocks: 1, local_blocks: 2}}}"}),
      "eval_ppl");
  const fs::path stage = result.run_dir / "sweep";
  for (const char* f : {"table.md", "table.csv", "results.json", "ppl_vs_sparsity.png",
                        "sparsity_layers_heads.png"}) {
    CAPTURE(f);
    CHECK(fs::exists(stage / f));
  }
  const auto cells = nlohmann::json::parse(test::read_file(stage / "results.json"))["cells"];
  REQUIRE(cells.size() == 2);
  const auto& streaming = cells[1];
  REQUIRE(streaming["method"] == "streaming");
  // 256 tokens in 64-token blocks: 4 query blocks, 10 causal blocks per head; the sink and a
  // 2-block window skip key block 1 of row 3 only: 1 of 10, in every window, layer and head.
  CHECK(streaming["sparsity"].get<double>() == Approx(0.1).margin(1e-12));
  const auto& layers = streaming["sparsity_detail"]["layers"];
  REQUIRE(layers.size() == 30);
  for (const auto& [layer, d] : layers.items()) {
    CAPTURE(layer);
    CHECK(d["heads"].size() == 9);
    for (const auto& h : d["heads"]) CHECK(h.get<double>() == Approx(0.1).margin(1e-12));
  }
  CHECK(cells[0]["sparsity"].get<double>() == 0.0);
  CHECK(cells[0]["ppl"].get<double>() > 1.0);
  CHECK_THAT(test::read_file(stage / "table.md"), Contains("| streaming |"));
}
