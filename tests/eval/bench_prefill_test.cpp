// The bench_prefill stage end to end on the CPU: a tiny random-weight model (shape from the
// config), untrained gates with top-k keep ratios, odd prompt lengths; the speed-ups and tables are
// recomputed from the per-row times; config errors name the key. Also the embedded model on real
// text (skipped when assets/models is absent). Speed itself is a GPU figure, never asserted here.
#include "catch.h"
#include "core/model/random_decoder.h"
#include "eval_test_util.h"
#include "run_test_util.h"
#include "experiments/runner.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <map>

namespace fs = std::filesystem;
using namespace seer;
using seer::test::Contains;

namespace {

const fs::path kModel = test::embedded_model_path();

fs::path fresh_dir(const std::string& name) { return test::fresh_tmp_dir(name); }

// paper_prefill shrunk to a 2-layer model with GQA (4 q heads, 2 kv heads) on the CPU.
std::vector<std::string> tiny_random(const fs::path& dir) {
  return {"++run.dir=" + dir.string(), "++run.name=t", "model.device=cpu", "model.dtype=float32",
          "bench_prefill.shape.vocab_size=300", "bench_prefill.shape.hidden_size=64",
          "bench_prefill.shape.intermediate_size=96", "bench_prefill.shape.num_hidden_layers=2",
          "bench_prefill.shape.num_attention_heads=4", "bench_prefill.shape.num_key_value_heads=2",
          "bench_prefill.shape.head_dim=16", "bench_prefill.shape.max_position_embeddings=1024",
          "gate.block_size=16", "gate.hidden_size=16", "bench_prefill.lengths=[200,97]",
          "bench_prefill.warmup=0", "bench_prefill.reps=1", "bench_prefill.profile_phases=true"};
}

std::string run_error(const std::string& experiment, const std::vector<std::string>& ov) {
  try {
    experiments::run_experiment(test::compose_experiment(experiment, ov), experiment);
  } catch (const std::exception& e) {
    return e.what();
  }
  FAIL("expected an error");
  return "";
}

}  // namespace

TEST_CASE("random_decoder: the requested shape, finite logits, the seed decides the weights", "[eval]") {
  core::ModelConfig shape;
  shape.vocab_size = 50;
  shape.hidden_size = 32;
  shape.intermediate_size = 48;
  shape.num_hidden_layers = 3;
  shape.num_attention_heads = 4;
  shape.num_key_value_heads = 1;
  shape.head_dim = 8;
  shape.max_position_embeddings = 256;
  auto a = core::random_decoder(shape, at::kFloat, at::kCPU, 7);
  auto b = core::random_decoder(shape, at::kFloat, at::kCPU, 7);
  auto c = core::random_decoder(shape, at::kFloat, at::kCPU, 8);
  CHECK(a.config().num_hidden_layers == 3);
  CHECK(a.weights().layers.at(2).k_proj.sizes() == at::IntArrayRef({8, 32}));
  CHECK(a.weights().lm_head.sizes() == at::IntArrayRef({50, 32}));
  CHECK(at::equal(a.weights().layers[1].down_proj, b.weights().layers[1].down_proj));
  CHECK_FALSE(at::equal(a.weights().layers[1].down_proj, c.weights().layers[1].down_proj));
  const double sd = a.weights().layers[0].gate_proj.std().item<double>();
  CHECK(sd == Approx(0.02).margin(0.002));
  const at::Tensor tokens = at::randint(50, {2, 37}, at::kLong);
  auto cache = a.new_cache();
  const at::Tensor logits = a.forward(tokens, cache, core::LogitsMode::kAll);
  CHECK(logits.sizes() == at::IntArrayRef({2, 37, 50}));
  CHECK(at::isfinite(logits).all().item<bool>());
  shape.num_key_value_heads = 3;  // does not divide 4
  CHECK_THROWS_WITH(core::random_decoder(shape, at::kFloat, at::kCPU, 0),
                    Contains("num_key_value_heads"));
}

TEST_CASE("bench_prefill on a random-weight model: rows, speed-ups and tables agree", "[eval]") {
  const auto dir = fresh_dir("bench_prefill_random");
  const auto result = experiments::run_experiment(test::compose_experiment("paper_prefill", tiny_random(dir)), "paper_prefill");
  const fs::path stage = result.run_dir / "bench_prefill";
  for (const char* f : {"prefill.json", "table.md", "table.csv", "times.csv", "speedup.json", ".done"}) {
    CAPTURE(f);
    CHECK(fs::exists(stage / f));
  }
  const auto out = nlohmann::json::parse(test::read_file(stage / "prefill.json"));
  CHECK(out["device"] == "cpu");
  CHECK(out.contains("config"));
  const auto& rows = out["rows"];
  REQUIRE(rows.size() == 8);  // (dense + 3 keep ratios) x 2 lengths
  std::map<int64_t, double> dense_ms;
  for (const auto& r : rows) {
    if (r["method"] == "dense") dense_ms[r["length"].get<int64_t>()] = r["ms"].get<double>();
  }
  REQUIRE(dense_ms.size() == 2);
  std::map<std::pair<int64_t, double>, double> sparsity;
  for (const auto& r : rows) {
    const int64_t len = r["length"].get<int64_t>();
    CAPTURE(r.dump());
    CHECK(r["ms"].get<double>() > 0.0);
    CHECK(r["speedup"].get<double>() == Approx(dense_ms[len] / r["ms"].get<double>()).epsilon(1e-12));
    CHECK(r["tokens_per_s"].get<double>() == Approx(1000.0 * len / r["ms"].get<double>()).epsilon(1e-12));
    CHECK(r["peak_memory_gib"].is_null());  // CPU: no allocator peak
    CHECK(r.contains("phases_ms") == (r["method"] != "dense"));
    if (r["method"] == "dense") {
      CHECK(r["sparsity"].get<double>() == 0.0);
    } else {
      const double keep = r["sparsity_config"]["keep_ratio"].get<double>();
      sparsity[{len, keep}] = r["sparsity"].get<double>();
    }
  }
  // Top-k of each row's causal blocks (diagonal forced): the measured sparsity follows the keep
  // ratio, and a smaller keep ratio is sparser at every length.
  for (int64_t len : {97, 200}) {
    CAPTURE(len);
    CHECK(sparsity.at({len, 0.5}) > 0.0);
    CHECK(sparsity.at({len, 0.5}) < sparsity.at({len, 0.2}));
    CHECK(sparsity.at({len, 0.2}) < sparsity.at({len, 0.1}) + 1e-12);
    CHECK(sparsity.at({len, 0.1}) < 1.0);
  }
  // 200 tokens / 16-token blocks = 13 query blocks, 91 causal blocks; keep 0.5 keeps about half.
  CHECK(sparsity.at({200, 0.5}) == Approx(0.5).margin(0.15));
  // Phase timing: one call per layer, every phase measured.
  for (const auto& r : rows) {
    if (!r.contains("phases_ms")) continue;
    const auto& p = r["phases_ms"];
    CHECK(p["layer_calls"] == 2);
    for (const char* k : {"gate", "mask", "index", "attention"}) CHECK(p[k].get<double>() > 0.0);
  }
  const std::string csv = test::read_file(stage / "table.csv");
  CHECK_THAT(csv, Contains("method,speedup@200,sparsity@200,speedup@97,sparsity@97"));
  CHECK_THAT(test::read_file(stage / "times.csv"), Contains("ms@200"));
  const auto plot = nlohmann::json::parse(test::read_file(stage / "speedup.json"));
  CHECK(plot["rows"].size() == rows.size());
}

TEST_CASE("bench_prefill config errors name the key", "[eval]") {
  const auto dir = fresh_dir("bench_prefill_errors");
  auto ov = tiny_random(dir);
  auto with = [&](std::vector<std::string> extra) {
    auto all = ov;
    all.insert(all.end(), extra.begin(), extra.end());
    return all;
  };
  CHECK_THAT(run_error("paper_prefill", with({"bench_prefill.methods={gate: {policy: topk, keep_ratio: 0.5}}"})),
             Contains("bench_prefill.methods"));
  CHECK_THAT(run_error("paper_prefill", with({"bench_prefill.gates="})), Contains("bench_prefill.gates"));
  CHECK_THAT(run_error("paper_prefill", with({"bench_prefill.lengths=[2048]"})),
             Contains("bench_prefill.shape.max_position_embeddings"));
  CHECK_THAT(run_error("paper_prefill", with({"bench_prefill.shape.num_key_value_heads=3"})),
             Contains("bench_prefill.shape"));
  CHECK_THAT(run_error("paper_prefill", with({"bench_prefill.weights=model"})),
             Contains("bench_prefill.shape"));
  CHECK_THAT(run_error("paper_prefill", with({"bench_prefill.reps=0"})), Contains("bench_prefill.reps"));
}

TEST_CASE("bench_prefill on the embedded model and the books (paper_prefill_smoke)", "[eval]") {
  if (!fs::exists(kModel)) SEER_SKIP("no embedded model (scripts/fetch_model.sh): " + kModel.string());
  const auto dir = fresh_dir("bench_prefill_smoke");
  const auto result = experiments::run_experiment(
      test::compose_experiment("paper_prefill_smoke", {"++run.dir=" + dir.string(), "++run.name=t",
                                      "bench_prefill.lengths=[400]", "bench_prefill.warmup=0",
                                      "bench_prefill.reps=1"}),
      "paper_prefill_smoke");
  const auto out = nlohmann::json::parse(test::read_file(result.run_dir / "bench_prefill/prefill.json"));
  REQUIRE(out["rows"].size() == 4);
  for (const auto& r : out["rows"]) {
    CAPTURE(r.dump());
    CHECK(r["length"] == 400);
    if (r["method"] == "streaming") {
      // 400 tokens / 64-token blocks: 7 query blocks, 28 causal blocks; the sink and 4 local
      // blocks drop key block 1 from row 5 and blocks 1-2 from row 6: 3 of 28 skipped.
      CHECK(r["sparsity"].get<double>() == Approx(3.0 / 28.0).epsilon(1e-12));
    }
  }
}

TEST_CASE("a cuda model on a machine without a GPU is an error naming model.device", "[eval]") {
  if (at::hasCUDA()) SEER_SKIP("this machine has a GPU");
  const auto dir = fresh_dir("bench_prefill_no_gpu");
  auto ov = tiny_random(dir);
  ov.push_back("model.device=cuda");
  CHECK_THAT(run_error("paper_prefill", ov), Contains("model.device = cuda"));
}
