// The capture and distill stages end to end on the embedded model (skipped without it), tiny:
// capture splits windows over files; offline distillation reads them through the dataset, online
// distillation runs the model on the same windows in the same order and starts from the same loss;
// a stage entry with overrides (max_sequences) trains on fewer windows; a second run skips all.
#include "catch.h"

#include "core/config/compose.h"
#include "experiments/runner.h"
#include "experiments/stage_list.h"
#include "gates_test_util.h"

#include <nlohmann/json.hpp>

#include <fstream>

using namespace seer;
namespace fs = std::filesystem;

namespace {

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

std::vector<nlohmann::json> read_jsonl(const fs::path& p) {
  std::vector<nlohmann::json> out;
  std::ifstream in(p);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

}  // namespace

TEST_CASE("capture -> offline, online and overridden distill stages", "[gates][distill][stage]") {
  const fs::path model = fs::path(SEER_SOURCE_DIR) / "assets/models/SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!fs::exists(model)) SEER_SKIP("no embedded model (scripts/fetch_model.sh): " + model.string());
  experiments::register_builtin_stages();
  const auto dir = gates_test::fresh_dir("distill_stages");
  config::ComposeRequest req;
  req.config_dir = fs::path(SEER_SOURCE_DIR) / "configs";
  req.experiment = "distill_modes";
  req.overrides = {"++run.dir=" + dir.string(), "++run.name=t", "capture.seq_len=128",
                   "capture.num_sequences=3", "++capture.sequences_per_file=2",
                   "++capture.layers=[0, 7]", "distill.seq_len=128", "distill.num_sequences=3",
                   "distill.max_tokens=512", "++distill.layers=[0, 7]", "train.steps=2",
                   "train.batch=2", "train.checkpoint_every=1",
                   "stages=[capture, distill, {stage: distill, id: distill_online, overrides: "
                   "[distill.mode=online]}, {stage: distill, id: distill_two, overrides: "
                   "[++distill.max_sequences=2]}]"};
  auto result = experiments::run_experiment(config::compose(req), "distill_modes");
  CHECK(result.stages_run == 4);
  const fs::path run = result.run_dir;
  for (const char* f : {"capture_00000.h5", "capture_00001.h5"})
    CHECK(fs::exists(run / "capture" / "capture" / f));
  const auto cap = read_json(run / "capture" / "capture.json");
  CHECK(cap["sequences"] == 3);
  CHECK(cap["files"].size() == 2);

  const auto off = read_json(run / "distill" / "distill.json");
  const auto on = read_json(run / "distill_online" / "distill.json");
  const auto two = read_json(run / "distill_two" / "distill.json");
  CHECK(off["mode"] == "offline");
  CHECK(off["data"]["sequences"] == 3);
  CHECK(off["data"]["unique_tokens"] == 3 * 128);
  CHECK(on["mode"] == "online");
  CHECK(on["data"]["windows_per_epoch"] == 3);
  CHECK(two["data"]["sequences"] == 2);
  CHECK(fs::exists(run / "distill_two" / "config.yaml"));
  for (const auto* d : {&off, &on, &two}) CHECK((*d)["steps"] == 2);
  // Same windows, same order, float32 capture: the first steps' losses agree.
  const auto m_off = read_jsonl(run / "distill" / "metrics.jsonl");
  const auto m_on = read_jsonl(run / "distill_online" / "metrics.jsonl");
  REQUIRE(m_off.size() == 2);
  REQUIRE(m_on.size() == 2);
  const double a = m_off[0]["loss"].get<double>(), b = m_on[0]["loss"].get<double>();
  CAPTURE(a, b);
  CHECK(std::abs(a - b) <= 1e-3 * std::abs(a));
  // The layers trained are the captured ones.
  const auto kl = m_off[0]["layer_kl"].get<std::vector<double>>();
  REQUIRE(kl.size() == 30);
  CHECK(kl[0] > 0);
  CHECK(kl[7] > 0);
  CHECK(kl[1] == 0);

  // The same command again: everything complete.
  result = experiments::run_experiment(config::compose(req), "distill_modes");
  CHECK(result.stages_skipped == 4);
}
