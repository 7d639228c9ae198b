// The numerical guards (check_finite, README "Reliability"): a NaN put into a layer's weight after
// loading, into a gate's weight, or into a captured G stops perplexity / distillation with the
// layer, head, window or step and file named; with check_finite off the same run goes on and
// its number is NaN. Tiny random models, milliseconds each.
#include "catch.h"

#include "core/gate/distill_trainer.h"
#include "core/gate/gate_set.h"
#include "core/gate/gated_attention_hook.h"
#include "core/model/finite_guard.h"
#include "core/model/perplexity.h"
#include "core/model/random_decoder.h"
#include "core/sparsity/sparsity_policy.h"
#include "experiments/cli.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace seer;
using seer::test::Contains;

namespace {

constexpr int64_t kHq = 4, kHkv = 2, kD = 8, kLayers = 2, kBlock = 16;
const float kNaN = std::numeric_limits<float>::quiet_NaN();

core::ModelConfig tiny_shape() {
  core::ModelConfig shape;
  shape.vocab_size = 97;
  shape.hidden_size = 32;
  shape.intermediate_size = 48;
  shape.num_hidden_layers = kLayers;
  shape.num_attention_heads = kHq;
  shape.num_key_value_heads = kHkv;
  shape.head_dim = kD;
  shape.max_position_embeddings = 512;
  shape.rope.theta = 10000.0;
  shape.eos_token_ids = {96};
  return shape;
}

std::vector<int64_t> tiny_tokens(int64_t n) {
  std::vector<int64_t> t;
  for (int64_t i = 0; i < n; ++i) t.push_back((i * 37 + 11) % 96);
  return t;
}

core::PerplexityOptions tiny_ppl_options() {
  core::PerplexityOptions opts;
  opts.context = 64;
  opts.chunk_size = 32;
  opts.label = "eval_ppl: tiny.gguf on data.eval";
  return opts;
}

core::GateConfig tiny_gate_config() {
  core::GateConfig c;
  c.block_size = kBlock;
  c.hidden_size = 16;
  return c;
}

core::GateRope tiny_rope() {
  core::GateRope r;
  r.rope.theta = 10000.0;
  return r;
}

}  // namespace

TEST_CASE("a NaN weight stops perplexity naming the layer, head, window and chunk",
          "[reliability][numerics]") {
  core::Decoder model = core::random_decoder(tiny_shape(), at::kFloat, at::kCPU, 3);
  const auto tokens = tiny_tokens(160);
  auto opts = tiny_ppl_options();
  SECTION("query projection of head 2 in layer 1: that head's attention output") {
    model.weights().layers[1].q_proj.narrow(0, 2 * kD, kD).fill_(kNaN);
    const std::string message = seer::test::error_message([&] { core::perplexity(model, tokens, opts); });
    CAPTURE(message);
    CHECK_THAT(message, Contains("eval_ppl: tiny.gguf on data.eval"));
    CHECK_THAT(message, Contains("window of tokens [0, 64), positions [0, 32)"));
    CHECK_THAT(message, Contains("layer 1, head 2 (1 of 4 heads non-finite): attention output"));
  }
  SECTION("an MLP weight of layer 0: the hidden state after it, before layer 1 sees it") {
    model.weights().layers[0].down_proj[5][7].fill_(std::numeric_limits<float>::infinity());
    const std::string message = seer::test::error_message([&] { core::perplexity(model, tokens, opts); });
    CAPTURE(message);
    CHECK_THAT(message, Contains("first in layer 0: hidden state after the MLP"));
  }
  SECTION("check_finite off: the run goes on and the perplexity is NaN") {
    model.weights().layers[1].q_proj.narrow(0, 2 * kD, kD).fill_(kNaN);
    opts.check_finite = false;
    core::PerplexityResult res;
    REQUIRE_NOTHROW(res = core::perplexity(model, tokens, opts));
    CHECK(std::isnan(res.ppl()));
    CHECK(res.windows == 3);
  }
}

TEST_CASE("a NaN gate weight stops the sparse run at the gate scores P of its layer and head",
          "[reliability][numerics]") {
  core::Decoder model = core::random_decoder(tiny_shape(), at::kFloat, at::kCPU, 4);
  auto gates = core::GateSet::init(tiny_gate_config(), {kHq, kHkv, kD}, tiny_rope(), kLayers,
                                   "tiny");
  {
    // K map of KV head 1 in layer 1: the scores of query heads 2 and 3 (GQA, g = 2).
    at::NoGradGuard no_grad;
    gates.layers[1].wk()[1].fill_(kNaN);
  }
  const core::ThresholdPolicy policy(0.05, core::ScoreSource::kGate);
  core::GatedAttentionHook hook(&gates, &policy, kBlock);
  core::ScopedAttentionHook attached(model, &hook);
  const auto tokens = tiny_tokens(160);
  auto opts = tiny_ppl_options();
  opts.label = "sweep: cell 'gate tau=0.05' at context 64 (data.eval)";
  SECTION("check_finite on") {
    const std::string message = seer::test::error_message([&] { core::perplexity(model, tokens, opts); });
    CAPTURE(message);
    CHECK_THAT(message, Contains("sweep: cell 'gate tau=0.05' at context 64"));
    CHECK_THAT(message, Contains("window of tokens [0, 64), positions [0, 32)"));
    CHECK_THAT(message, Contains("layer 1, head 2 (2 of 4 heads non-finite): gate scores P"));
  }
  SECTION("check_finite off: the run is not stopped") {
    // The mask drops NaN scores, so the perplexity looks plausible: what the guard is for.
    opts.check_finite = false;
    CHECK_NOTHROW(core::perplexity(model, tokens, opts));
  }
}

TEST_CASE("a NaN in a captured G stops distillation naming the step, layer, sample and file",
          "[reliability][numerics]") {
  constexpr int64_t kNb = 8, kSamples = 4;
  auto gen = at::detail::createCPUGenerator(11);
  std::vector<core::DistillSample> samples;
  {
    at::NoGradGuard no_grad;
    const auto causal = at::ones({kNb, kNb}, at::kBool).tril();
    for (int64_t i = 0; i < kSamples; ++i) {
      core::DistillSample s;
      s.id = "seq_0000" + std::to_string(i);
      s.tokens = kNb * kBlock;
      for (int64_t l = 0; l < kLayers; ++l) {
        s.layers.push_back(l);
        s.q_pooled.push_back(at::randn({kNb, kHq, 3 * kD}, gen, at::kFloat));
        s.k_pooled.push_back(at::randn({kNb, kHkv, 3 * kD}, gen, at::kFloat));
        const auto logits = at::randn({kHq, kNb, kNb}, gen, at::kFloat);
        s.g.push_back(at::softmax(logits.masked_fill(causal.logical_not(), -INFINITY), -1));
      }
      samples.push_back(std::move(s));
    }
  }
  // A capture file per sample, as data/capture_dataset.cpp names them.
  auto source = [&](int64_t first, int64_t count) {
    std::vector<core::DistillSample> step;
    for (int64_t c = first; c < first + count; ++c) step.push_back(samples[c % kSamples]);
    core::DistillBatch batch = core::group_distill_samples(step);
    for (auto& g : batch.groups)
      for (const auto& id : g.ids) g.files.push_back("capture/part_" + id.substr(4) + ".h5");
    return batch;
  };
  core::DistillTrainConfig cfg;
  cfg.steps = 3;
  cfg.batch = 2;
  cfg.warmup_steps = 1;
  cfg.checkpoint_every = 1;
  const fs::path dir = fs::path(SEER_TEST_TMP) / "numerical_guard_distill";
  fs::remove_all(dir);
  auto gates = core::GateSet::init(tiny_gate_config(), {kHq, kHkv, kD}, tiny_rope(), kLayers, "t");
  std::vector<double> losses;
  auto run = [&] {
    core::DistillTrainer trainer(gates, source, cfg, dir);
    trainer.on_step([&](const core::DistillStepMetrics& m) { losses.push_back(m.loss); });
    return trainer.run();
  };
  SECTION("a row the loss reads: the loss is NaN") {
    samples[2].g[1][3][5][1] = kNaN;   // step 2 reads samples 2 and 3
    const std::string message = seer::test::error_message(run);
    CAPTURE(message);
    CHECK_THAT(message, Contains("distill: step 2: loss nan"));
    CHECK_THAT(message, Contains("first non-finite layer: 1"));
    CHECK_THAT(message,
               Contains("sample seq_00002 of capture/part_00002.h5, layer 1: its captured G holds "
                        "NaN or Inf"));
  }
  SECTION("a row the loss drops (the first quarter): the input check still stops the run") {
    samples[3].g[0][0][0][0] = kNaN;
    const std::string message = seer::test::error_message(run);
    CAPTURE(message);
    CHECK_THAT(message, Contains("distill: step 2: loss "));
    CHECK_THAT(message,
               Contains("sample seq_00003 of capture/part_00003.h5, layer 0: its captured G holds "
                        "NaN or Inf"));
  }
  SECTION("an Inf in a pooled K") {
    samples[1].k_pooled[0][1][0][0] = std::numeric_limits<float>::infinity();
    const std::string message = seer::test::error_message(run);
    CAPTURE(message);
    CHECK_THAT(message, Contains("distill: step 1: loss "));
    CHECK_THAT(message,
               Contains("sample seq_00001 of capture/part_00001.h5, layer 0: its captured pooled K "
                        "holds NaN or Inf"));
  }
  SECTION("check_finite off: training goes on, the step's loss is NaN") {
    samples[2].g[1][3][5][1] = kNaN;
    cfg.check_finite = false;
    core::DistillStepMetrics last;
    REQUIRE_NOTHROW(last = run());
    CHECK(last.step == cfg.steps);
    REQUIRE(losses.size() == 3);
    CHECK(std::isfinite(losses[0]));
    CHECK(std::isnan(losses[1]));
  }
}

TEST_CASE("check_finite is a required key of every stage section that reads it",
          "[reliability][numerics][config]") {
  const std::string configs = std::string(SEER_SOURCE_DIR) + "/configs";
  struct Case {
    const char* experiment;
    const char* key;
  };
  const Case c = GENERATE(Case{"eval_ppl", "eval.check_finite"},
                          Case{"paper_ppl_smoke", "sweep.check_finite"},
                          Case{"paper_ruler_smoke", "eval_ruler.check_finite"},
                          Case{"paper_longbench_smoke", "eval_longbench.check_finite"},
                          Case{"quickstart", "train.check_finite"});
  CAPTURE(c.experiment, c.key);
  CHECK(experiments::run_cli({"--config-dir", configs, "show", c.experiment,
                              std::string(c.key) + "=false"}) == 0);
  const std::string message = seer::test::error_message([&] {
    experiments::run_cli({"--config-dir", configs, "show", c.experiment, std::string("~") + c.key});
  });
  CHECK_THAT(message, Contains(c.key));
}
