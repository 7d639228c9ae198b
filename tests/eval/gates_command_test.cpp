// `seer gates export|import|inspect` and the stages' loader of either layout, on gates shaped for
// the embedded model (skipped without it): a round trip through the reference layout keeps every
// weight and gives identical scores; gates of another model are refused naming both shapes; the
// sweep stage reads a reference-layout folder as it reads ours.
#include "catch.h"
#include "eval_test_util.h"
#include "run_test_util.h"

#include "core/gate/gate_file.h"
#include "experiments/gate_folders.h"
#include "experiments/gates_command.h"
#include "experiments/runner.h"
#include "experiments/stages/gate_stages.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>

namespace fs = std::filesystem;
using namespace seer;
using seer::test::Contains;

namespace {

fs::path fresh(const std::string& name) {
  const fs::path d = fs::path(SEER_TEST_TMP) / name;
  fs::remove_all(d);
  return d;
}

core::ModelSpec embedded_spec() {
  core::ModelSpec spec;
  spec.path = test::embedded_model_path().string();
  spec.format = "gguf";
  return spec;
}

// Scores of every layer on the same random pooled inputs.
std::vector<at::Tensor> all_scores(const core::GateSet& g) {
  auto gen = at::detail::createCPUGenerator(17);
  std::vector<at::Tensor> out;
  const int64_t D = g.shape.head_dim, nb = 9;
  for (const auto& gate : g.layers) {
    auto q = at::randn({1, nb, g.shape.num_q_heads, D * int64_t(gate.config().q_pools.size())}, gen);
    auto k = at::randn({1, nb, g.shape.num_kv_heads, D * int64_t(gate.config().k_pools.size())}, gen);
    out.push_back(gate.scores(q, k));
  }
  return out;
}

}  // namespace

TEST_CASE("gates round-trip through the reference layout with identical scores", "[eval][gates]") {
  const fs::path model = test::embedded_model_path();
  if (!fs::exists(model)) SEER_SKIP("no embedded model (scripts/fetch_model.sh): " + model.string());
  const core::ModelSpec spec = embedded_spec();
  const auto geo = experiments::model_gate_geometry(spec);
  core::GateConfig cfg;
  cfg.rope_dim = "head_dim";   // D = 64 < d = 128: the import must bring this back
  const auto gates = core::GateSet::init(cfg, geo.shape, geo.rope, geo.num_layers, "embedded");
  const fs::path ours = fresh("gates_ours"), ref = fresh("gates_ref"), back = fresh("gates_back");
  core::save_gates(gates, ours);

  CHECK(experiments::run_gates_command({"export", ours.string(), ref.string()}) == 0);
  CHECK(experiments::gate_layout(ref) == experiments::GateLayout::kReference);
  CHECK(experiments::run_gates_command({"import", ref.string(), back.string(), "--model",
                                        model.string()}) == 0);
  CHECK(experiments::gate_layout(back) == experiments::GateLayout::kSeer);
  CHECK(experiments::run_gates_command({"inspect", ref.string()}) == 0);
  CHECK(experiments::run_gates_command({"inspect", back.string()}) == 0);

  const auto want = all_scores(gates);
  for (const fs::path& dir : {back, ref}) {   // ours after the round trip, and the reference read directly
    CAPTURE(dir.string());
    const auto got = experiments::load_gates_for_model(dir, spec);
    CHECK(got.config.type_name() == gates.config.type_name());
    CHECK(got.config.rope_dim == "head_dim");
    const auto scores = all_scores(got);
    REQUIRE(scores.size() == want.size());
    for (size_t l = 0; l < want.size(); ++l) CHECK(at::equal(scores[l], want[l]));
  }
}

TEST_CASE("gate folders of another model or of no layout are refused", "[eval][gates]") {
  const fs::path model = test::embedded_model_path();
  if (!fs::exists(model)) SEER_SKIP("no embedded model (scripts/fetch_model.sh): " + model.string());
  const core::ModelSpec spec = embedded_spec();
  auto geo = experiments::model_gate_geometry(spec);
  auto message = [&](const fs::path& dir) {
    try {
      experiments::load_gates_for_model(dir, spec);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("<no error>");
  };
  core::GateSet other = core::GateSet::init(core::GateConfig{}, {geo.shape.num_q_heads * 2,
                                            geo.shape.num_kv_heads, geo.shape.head_dim},
                                            geo.rope, geo.num_layers, "other");
  const fs::path dir = fresh("gates_other");
  core::save_gates(other, dir);
  CHECK_THAT(message(dir), Contains("gates of another model") && Contains("query heads") &&
                               Contains(std::to_string(geo.shape.num_q_heads * 2)));
  const fs::path empty = fresh("gates_empty");
  fs::create_directories(empty);
  CHECK(experiments::gate_layout(empty) == experiments::GateLayout::kNone);
  CHECK_THAT(message(empty), Contains(empty.string()) && Contains("no gates"));
  CHECK_THROWS_WITH(experiments::run_gates_command({"import", dir.string(), empty.string()}),
                    Contains("expected 4 arguments"));
}

TEST_CASE("sweep scores gates in the reference layout as it scores ours", "[eval][gates]") {
  const fs::path model = test::embedded_model_path();
  if (!fs::exists(model)) SEER_SKIP("no embedded model (scripts/fetch_model.sh): " + model.string());
  const core::ModelSpec spec = embedded_spec();
  const auto geo = experiments::model_gate_geometry(spec);
  core::GateConfig cfg;
  cfg.init_std = 0.5;   // peaked scores, so that tau = 0.3 keeps some blocks and drops others
  const auto gates = core::GateSet::init(cfg, geo.shape, geo.rope, geo.num_layers, "embedded");
  const fs::path ours = fresh("sweep_gates_ours"), ref = fresh("sweep_gates_ref");
  core::save_gates(gates, ours);
  REQUIRE(experiments::run_gates_command({"export", ours.string(), ref.string()}) == 0);

  auto sweep_cell = [&](const fs::path& gate_dir, const std::string& name) {
    const fs::path dir = fresh("sweep_gates_run_" + name);
    const auto result = experiments::run_experiment(
        test::compose_experiment(
            "eval_ppl",
            {"++run.dir=" + dir.string(), "++run.name=t", "stages=[sweep]",
             "++sweep={check_finite: true, contexts: [256], max_tokens: 256, chunk_size: 128, "
             "gates: " +
                 gate_dir.string() +
                 ", methods: {gate: {policy: threshold, tau: 0.3, keep_sink: true}}}"}),
        "eval_ppl");
    const auto cells = nlohmann::json::parse(
        test::read_file(result.run_dir / "sweep" / "results.json"))["cells"];
    REQUIRE(cells.size() == 1);
    return cells[0];
  };
  const auto a = sweep_cell(ours, "ours");
  const auto b = sweep_cell(ref, "ref");
  CHECK(a["sparsity"].get<double>() > 0.0);   // the gates decide something
  CHECK(a["sparsity"].get<double>() < 1.0);
  CHECK(b["sparsity"].get<double>() == a["sparsity"].get<double>());
  CHECK(b["ppl"].get<double>() == a["ppl"].get<double>());
}
