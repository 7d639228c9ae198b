// Offline distillation: a student gate learns a known block pattern (the scores of a fixed
// "teacher" gate on random pooled Q/K: the loss falls by a wide margin and the top-k overlap with
// the pattern rises); a run killed after a checkpoint resumes to bitwise the same weights as an
// uninterrupted run; the schedule and the `train` section parse.
#include "catch.h"

#include "core/gate/distill_trainer.h"
#include "core/sparsity/block_mask.h"
#include "gates_test_util.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <filesystem>
#include <fstream>

using namespace seer;

namespace {

constexpr int64_t kB = 16, kHq = 4, kHkv = 2, kD = 8, kNb = 12, kLayers = 2;

core::GateConfig student_config(int64_t seed) {
  core::GateConfig c;
  c.block_size = kB;
  c.hidden_size = 16;
  c.seed = seed;
  return c;
}

core::GateRope rope() {
  core::GateRope r;
  r.rope.theta = 10000.0;
  return r;
}

// Samples whose G is a teacher gate's P on random pooled inputs (a pattern the student's family
// can represent exactly, so the loss can approach 0).
std::vector<core::DistillSample> teacher_samples(int64_t n) {
  core::GateConfig tc = student_config(1000);
  tc.init_std = 0.6;
  auto teacher = core::GateSet::init(tc, {kHq, kHkv, kD}, rope(), kLayers, "teacher");
  auto gen = at::detail::createCPUGenerator(5);
  std::vector<core::DistillSample> out;
  at::NoGradGuard no_grad;
  for (int64_t i = 0; i < n; ++i) {
    core::DistillSample s;
    s.id = "s" + std::to_string(i);
    s.tokens = kNb * kB;
    for (int64_t l = 0; l < kLayers; ++l) {
      auto q = at::randn({kNb, kHq, 3 * kD}, gen, at::kFloat);
      auto k = at::randn({kNb, kHkv, 3 * kD}, gen, at::kFloat);
      const auto& gate = teacher.layers[l];
      // capture layout: channels avg | max | min; the default gate reads Q avg, K max, min, avg
      auto qg = q.narrow(-1, 0, kD).unsqueeze(0);
      auto kg = at::cat({k.narrow(-1, kD, kD), k.narrow(-1, 2 * kD, kD), k.narrow(-1, 0, kD)}, -1)
                    .unsqueeze(0);
      s.layers.push_back(l);
      s.q_pooled.push_back(q);
      s.k_pooled.push_back(k);
      s.g.push_back(gate.scores(qg, kg).squeeze(0));
    }
    out.push_back(std::move(s));
  }
  return out;
}

// Mean over rows (past the first quarter) of |topk(P) ∩ topk(G)| / k with k = 25% of each row.
double topk_overlap(const core::GateSet& gates, const std::vector<core::DistillSample>& samples) {
  at::NoGradGuard no_grad;
  core::BlockGeometry geo;
  geo.heads = kHq;
  geo.block = kB;
  geo.sq = geo.sk = kNb * kB;
  double sum = 0;
  int64_t n = 0;
  for (const auto& s : samples)
    for (size_t i = 0; i < s.layers.size(); ++i) {
      const auto& gate = gates.layers[s.layers[i]];
      auto q = s.q_pooled[i].narrow(-1, 0, kD).unsqueeze(0);
      auto k = at::cat({s.k_pooled[i].narrow(-1, kD, kD), s.k_pooled[i].narrow(-1, 2 * kD, kD),
                        s.k_pooled[i].narrow(-1, 0, kD)}, -1).unsqueeze(0);
      auto p = gate.scores(q, k);
      auto mp = core::mask_from_topk(p, geo, 0, 0.25);
      auto mg = core::mask_from_topk(s.g[i].unsqueeze(0), geo, 0, 0.25);
      auto rows = at::arange(kNb / 4, kNb);
      auto inter = mp.logical_and(mg).index_select(2, rows).sum().item<double>();
      sum += inter / mg.index_select(2, rows).sum().item<double>();
      ++n;
    }
  return sum / n;
}

}  // namespace

TEST_CASE("distillation learns a known block pattern", "[gates][distill]") {
  auto samples = teacher_samples(8);
  auto student = core::GateSet::init(student_config(1), {kHq, kHkv, kD}, rope(), kLayers, "s");
  core::DistillTrainConfig cfg;
  cfg.steps = 150;
  cfg.batch = 2;
  cfg.lr = 2e-2;
  cfg.warmup_steps = 10;
  cfg.checkpoint_every = 1000;
  const double overlap0 = topk_overlap(student, samples);
  double first_loss = -1;
  core::DistillTrainer trainer(student, [&](int64_t i) { return samples[i]; },
                               static_cast<int64_t>(samples.size()), cfg,
                               gates_test::fresh_dir("distill_learn"));
  trainer.on_step([&](const core::DistillStepMetrics& m) {
    if (first_loss < 0) first_loss = m.loss;
  });
  auto last = trainer.run();
  // Loss over all samples before/after, not just the last step's.
  double final_loss = 0;
  {
    at::NoGradGuard no_grad;
    for (const auto& s : samples)
      final_loss += core::distill_sample_loss(student, s, cfg.loss, nullptr).item<double>();
    final_loss /= samples.size();
  }
  const double overlap1 = topk_overlap(student, samples);
  CAPTURE(first_loss, last.loss, final_loss, overlap0, overlap1);
  CHECK(last.step == 150);
  CHECK(final_loss < first_loss / 5.0);
  CHECK(overlap1 > overlap0 + 0.2);
  CHECK(overlap1 > 0.8);
}

TEST_CASE("distillation resumes after a kill to the same final weights", "[gates][distill]") {
  auto samples = teacher_samples(5);
  core::DistillTrainConfig cfg;
  cfg.steps = 9;
  cfg.batch = 3;
  cfg.lr = 1e-2;
  cfg.warmup_steps = 2;
  cfg.checkpoint_every = 4;
  cfg.weight_decay = 0.01;
  auto source = [&](int64_t i) { return samples[i]; };
  const int64_t n = static_cast<int64_t>(samples.size());

  auto straight = core::GateSet::init(student_config(3), {kHq, kHkv, kD}, rope(), kLayers, "s");
  core::DistillTrainer(straight, source, n, cfg, gates_test::fresh_dir("distill_straight")).run();

  const auto dir = gates_test::fresh_dir("distill_killed");
  {
    auto killed = core::GateSet::init(student_config(3), {kHq, kHkv, kD}, rope(), kLayers, "s");
    core::DistillTrainer t(killed, source, n, cfg, dir);
    t.stop_after(6);  // dies after step 6; the last checkpoint is step 4
    CHECK(t.run().step == 6);
  }
  // What kills while saving and while pruning leave behind: a checkpoint never renamed into place,
  // and an older one pruned halfway (its state.json, removed first, gone). The resume reads
  // neither and removes both.
  const auto checkpoints = dir / "checkpoints";
  std::filesystem::create_directories(checkpoints / "step_000006.tmp" / "gates");
  std::ofstream(checkpoints / "step_000006.tmp" / "gates" / "gates.safetensors") << "torn";
  std::filesystem::create_directories(checkpoints / "step_000002");
  std::ofstream(checkpoints / "step_000002" / "optimizer.pt") << "torn";
  auto resumed = core::GateSet::init(student_config(3), {kHq, kHkv, kD}, rope(), kLayers, "s");
  core::DistillTrainer t(resumed, source, n, cfg, dir);
  CHECK(t.resume_step() == 4);
  CHECK(t.run().step == 9);
  CHECK_FALSE(std::filesystem::exists(checkpoints / "step_000006.tmp"));
  CHECK_FALSE(std::filesystem::exists(checkpoints / "step_000002"));
  auto a = straight.parameters(), b = resumed.parameters();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(at::equal(a[i], b[i]));
  // Metrics: one line per step 1..9, no duplicates from the replayed steps 5-6.
  std::ifstream metrics(dir / "metrics.jsonl");
  std::string line;
  int lines = 0;
  while (std::getline(metrics, line)) ++lines;
  CHECK(lines == 9);
  // Checkpoints at steps 4, 8 and 9 (the last); keep_checkpoints 2 prunes step 4.
  REQUIRE(cfg.keep_checkpoints == 2);
  CHECK_FALSE(std::filesystem::exists(dir / "checkpoints" / "step_000004"));
  CHECK(std::filesystem::exists(dir / "checkpoints" / "step_000008" / "state.json"));
  CHECK(std::filesystem::exists(dir / "checkpoints" / "step_000009" / "state.json"));
}

TEST_CASE("distill schedule, sample order and train section", "[gates][distill]") {
  core::DistillTrainConfig cfg;
  cfg.steps = 100;
  cfg.lr = 1.0;
  cfg.warmup_steps = 10;
  cfg.min_lr_ratio = 0.1;
  CHECK(core::distill_lr_at(cfg, 0) == Approx(0.1));  // warmup_offset 1: the first step learns
  CHECK(core::distill_lr_at(cfg, 9) == Approx(1.0));
  CHECK(core::distill_lr_at(cfg, 10) == Approx(1.0));
  CHECK(core::distill_lr_at(cfg, 55) == Approx(0.1 + 0.9 * 0.5));
  CHECK(core::distill_lr_at(cfg, 100) == Approx(0.1));
  // Each epoch visits every sample once.
  std::vector<int> seen(7, 0);
  for (int64_t c = 7; c < 14; ++c) ++seen[core::distill_sample_index(1, c, 7)];
  for (int v : seen) CHECK(v == 1);

  // The defaults come from configs/train/distill.yaml, never from C++.
  const std::string file = std::string(SEER_SOURCE_DIR) + "/configs/train/distill.yaml";
  auto train_section = [&] { return YAML::LoadFile(file); };
  YAML::Node root;
  root["train"] = train_section();
  root["train"]["steps"] = 20;
  root["train"]["loss_scale"] = 1.0;
  config::ConfigTree tree(root);
  auto parsed = core::parse_distill_train_config(config::ConfigReader(tree, "train"));
  CHECK(parsed.steps == 20);
  CHECK(parsed.loss.scale == 1.0);
  CHECK(parsed.batch == root["train"]["batch"].as<int64_t>());
  root["train"] = train_section();
  root["train"]["learning_rate"] = 0.1;
  config::ConfigTree bad(root);
  CHECK(gates_test::contains(gates_test::error_message([&] {
          core::parse_distill_train_config(config::ConfigReader(bad, "train"));
        }), "train.learning_rate"));
  root["train"] = train_section();
  root["train"].remove("lr");
  config::ConfigTree missing(root);
  const std::string message = gates_test::error_message([&] {
    core::parse_distill_train_config(config::ConfigReader(missing, "train"));
  });
  CAPTURE(message);
  CHECK(gates_test::contains(message, "train.lr"));
  CHECK(gates_test::contains(message, "configs/train/distill.yaml"));
}

TEST_CASE("a non-finite loss stops distillation naming the step, layer and samples",
          "[gates][distill]") {
  auto samples = teacher_samples(4);
  // Sample s2's layer 1 map gets a NaN: the step that reads it must stop, not train on it.
  samples[2].g[1][0][5][1] = std::numeric_limits<float>::quiet_NaN();
  core::DistillTrainConfig cfg;
  cfg.steps = 6;
  cfg.batch = 2;
  cfg.warmup_steps = 1;
  cfg.checkpoint_every = 1;
  const auto dir = gates_test::fresh_dir("distill_nan");
  auto gates = core::GateSet::init(student_config(4), {kHq, kHkv, kD}, rope(), kLayers, "s");
  std::vector<int64_t> order;
  core::DistillTrainer trainer(gates, [&](int64_t i) {
    order.push_back(i);
    return samples[i];
  }, static_cast<int64_t>(samples.size()), cfg, dir);
  const std::string message = gates_test::error_message([&] { trainer.run(); });
  CAPTURE(message);
  CHECK(gates_test::contains(message, "first non-finite layer: 1"));
  CHECK(gates_test::contains(message, "s2"));
  CHECK(gates_test::contains(message, "loss nan"));
  // The failing step is the one whose batch held s2; the checkpoints before it stay, none after.
  const auto pos = std::find(order.begin(), order.end(), 2) - order.begin();
  const int64_t failing_step = pos / cfg.batch + 1;
  CHECK(gates_test::contains(message, fmt::format("step {}:", failing_step)));
  CHECK(core::DistillTrainer(gates, [&](int64_t i) { return samples[i]; },
                             static_cast<int64_t>(samples.size()), cfg, dir).resume_step() ==
        failing_step - 1);
}

TEST_CASE("distance biases train at bias_lr_scale x lr, and resume exactly", "[gates][distill]") {
  auto samples = teacher_samples(5);
  auto source = [&](int64_t i) { return samples[i]; };
  const int64_t n = static_cast<int64_t>(samples.size());
  auto biased = [] {
    auto c = student_config(3);
    c.distance_buckets = 4;   // 12 blocks: distances 0, 1, [2, 4), [4, 8) and >= 8 share bucket 3
    return c;
  };
  core::DistillTrainConfig cfg;
  cfg.steps = 1;
  cfg.batch = 3;
  cfg.lr = 1e-2;
  cfg.warmup_steps = 0;       // step 0 runs at lr itself
  cfg.bias_lr_scale = 7.0;
  auto gates = core::GateSet::init(biased(), {kHq, kHkv, kD}, rope(), kLayers, "s");
  std::vector<at::Tensor> before;
  for (const auto& p : gates.parameters()) before.push_back(p.detach().clone());
  core::DistillTrainer(gates, source, n, cfg, gates_test::fresh_dir("distill_bias_lr")).run();
  // Adam's first step moves every weight with a gradient by lr x g / (|g| + eps), i.e. by lr
  // itself: the projections by 1e-2, the biases by 7e-2 (each of the 4 buckets is used).
  const auto after = gates.parameters();
  REQUIRE(after.size() == before.size());
  REQUIRE(after.size() == static_cast<size_t>(3 * kLayers));   // wq, wk, bias per layer
  for (size_t i = 0; i < after.size(); ++i) {
    CAPTURE(i);
    const bool bias = i % 3 == 2;
    const double moved = (after[i].detach() - before[i]).abs().max().item<double>();
    CHECK(moved == Approx(bias ? 7e-2 : 1e-2).epsilon(1e-4));
    if (bias) CHECK(((after[i].detach() - before[i]).abs() > 6.9e-2).all().item<bool>());
  }

  // A run killed after a checkpoint resumes to the same weights, biases and their Adam state
  // included.
  cfg.steps = 5;
  cfg.warmup_steps = 2;
  cfg.checkpoint_every = 2;
  auto straight = core::GateSet::init(biased(), {kHq, kHkv, kD}, rope(), kLayers, "s");
  core::DistillTrainer(straight, source, n, cfg, gates_test::fresh_dir("distill_bias_straight")).run();
  const auto dir = gates_test::fresh_dir("distill_bias_killed");
  {
    auto killed = core::GateSet::init(biased(), {kHq, kHkv, kD}, rope(), kLayers, "s");
    core::DistillTrainer t(killed, source, n, cfg, dir);
    t.stop_after(3);
    CHECK(t.run().step == 3);
  }
  auto resumed = core::GateSet::init(biased(), {kHq, kHkv, kD}, rope(), kLayers, "s");
  core::DistillTrainer t(resumed, source, n, cfg, dir);
  CHECK(t.resume_step() == 2);
  CHECK(t.run().step == 5);
  auto a = straight.parameters(), b = resumed.parameters();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(at::equal(a[i], b[i]));
}
