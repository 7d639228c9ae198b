// Stage distill: trains the AttnGates (DESIGN.md §3) and writes <stage>/gates/ (core/gate/
// gate_file.h), metrics.jsonl and checkpoints/. Two modes, one loss and optimiser:
//   offline  reads capture.h5 of the stage `distill.capture` (the LLM never runs again; many
//            epochs and gate configurations from one capture)
//   online   runs the model with the CaptureHook on every sample (as the reference does)
// Resumes from its last checkpoint after a kill.
//   seer run quickstart gate=small train.steps=300 distill.mode=offline
#include "analysis/run_info.h"
#include "core/config/config_error.h"
#include "core/config/config_reader.h"
#include "core/gate/capture_hook.h"
#include "core/gate/distill_trainer.h"
#include "core/gate/gate_config.h"
#include "core/gate/gate_file.h"
#include "core/io/atomic_file.h"
#include "core/model/model_spec.h"
#include "data/capture_samples.h"
#include "experiments/data_splits.h"
#include "experiments/progress.h"
#include "experiments/stages/gate_stages.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>

namespace seer::experiments {
namespace {

namespace fs = std::filesystem;

struct DistillStageConfig {
  std::string mode = "offline";   // offline | online
  std::string capture = "capture";  // stage id holding capture.h5 (offline)
  int64_t max_sequences = 0;      // offline: 0 = all
  int64_t seq_len = 2048;         // online
  int64_t num_sequences = 8;      // online
  std::vector<int64_t> layers;    // online: layers to train (empty = all)
};

DistillStageConfig parse_distill_stage_config(const config::ConfigReader& r) {
  DistillStageConfig c;
  c.mode = r.get_choice("mode", {"offline", "online"}, c.mode);
  c.capture = r.get<std::string>("capture", c.capture);
  c.max_sequences = r.get<int64_t>("max_sequences", c.max_sequences);
  if (c.max_sequences < 0) r.fail("max_sequences", "expected >= 0 (0 = all)");
  c.seq_len = r.get<int64_t>("seq_len", c.seq_len);
  if (c.seq_len < 1) r.fail("seq_len", "expected >= 1");
  c.num_sequences = r.get<int64_t>("num_sequences", c.num_sequences);
  if (c.num_sequences < 1) r.fail("num_sequences", "expected >= 1");
  c.layers = r.get<std::vector<int64_t>>("layers", {});
  r.finish();
  return c;
}

// The metrics of the last step in metrics.jsonl: an interrupted run whose final checkpoint was
// already written has no step left to run, and reports what that step logged.
core::DistillStepMetrics last_logged_step(const fs::path& stage_dir) {
  core::DistillStepMetrics m;
  std::ifstream in(stage_dir / "metrics.jsonl");
  std::string line, last_line;
  while (std::getline(in, line)) {
    if (!line.empty()) last_line = line;
  }
  if (last_line.empty()) return m;
  const auto j = nlohmann::json::parse(last_line);
  m.step = j.value("step", int64_t{0});
  m.loss = j.value("loss", 0.0);
  m.layer_kl = j.value("layer_kl", std::vector<double>{});
  return m;
}

class DistillStage final : public Stage {
 public:
  std::string name() const override { return "distill"; }
  std::string summary() const override {
    return "trains the AttnGates by self-distillation (offline from capture.h5, or online)";
  }
  std::vector<std::string> sections() const override {
    return {"model", "data", "gate", "train", "distill"};
  }
  void validate(const config::ConfigTree& config) const override {
    core::parse_model_spec(config::ConfigReader(config, "model"));
    core::parse_gate_config(config::ConfigReader(config, "gate"));
    core::parse_distill_train_config(config::ConfigReader(config, "train"));
    if (parse_distill_stage_config(config::ConfigReader(config, "distill")).mode == "online")
      validate_data_splits(config, "train");
  }
  void run(StageContext& ctx) override {
    const auto spec = core::parse_model_spec(config::ConfigReader(ctx.config, "model"));
    const auto gate_cfg = core::parse_gate_config(config::ConfigReader(ctx.config, "gate"));
    auto train = core::parse_distill_train_config(config::ConfigReader(ctx.config, "train"));
    const auto cfg = parse_distill_stage_config(config::ConfigReader(ctx.config, "distill"));
    const auto geo = model_gate_geometry(spec);
    core::GateSet gates = core::GateSet::init(gate_cfg, geo.shape, geo.rope, geo.num_layers,
                                              spec.name);
    const auto t0 = std::chrono::steady_clock::now();

    std::vector<core::DistillSample> samples;   // offline
    std::unique_ptr<core::Decoder> model;       // online
    std::unique_ptr<core::CaptureHook> hook;
    std::vector<std::vector<int64_t>> windows;
    core::DistillTrainer::SampleSource source;
    int64_t num_samples = 0;
    if (cfg.mode == "offline") {
      const auto path = ctx.stage_path(cfg.capture) / "capture.h5";
      data::CaptureReader reader(path);
      if (reader.info().block_size != gate_cfg.block_size)
        throw config::ConfigError(fmt::format(
            "{}: captured with block size {}, gate.block_size is {}", path.string(),
            reader.info().block_size, gate_cfg.block_size));
      samples = data::load_distill_samples(reader, cfg.max_sequences);
      ctx.log.info("offline distillation from {} ({} sequences)", path.string(), samples.size());
      num_samples = static_cast<int64_t>(samples.size());
      source = [&samples](int64_t i) { return samples[i]; };
    } else {
      model = std::make_unique<core::Decoder>(core::load_decoder(spec));
      windows = gate_token_windows(ctx.config, spec, cfg.seq_len, cfg.num_sequences);
      core::CaptureOptions opts;
      opts.block = gate_cfg.block_size;
      opts.layers = cfg.layers;
      hook = std::make_unique<core::CaptureHook>(opts);
      model->set_attention_hook(hook.get());
      num_samples = static_cast<int64_t>(windows.size());
      const int64_t chunk = std::max<int64_t>(
          gate_cfg.block_size, spec.chunk_size / gate_cfg.block_size * gate_cfg.block_size);
      ctx.log.info("online distillation over {} windows of {} tokens", num_samples, cfg.seq_len);
      source = [&, chunk](int64_t i) {
        at::NoGradGuard no_grad;
        auto tokens = at::tensor(windows[i], at::TensorOptions().dtype(at::kLong)).unsqueeze(0);
        auto cache = model->new_cache();
        model->prefill(tokens, cache, chunk);
        core::DistillSample s;
        s.id = fmt::format("seq_{:05d}", i);
        s.tokens = static_cast<int64_t>(windows[i].size());
        for (auto& [layer, c] : hook->take()) {
          s.layers.push_back(layer);
          s.q_pooled.push_back(c.q_pooled.squeeze(0));
          s.k_pooled.push_back(c.k_pooled.squeeze(0));
          s.g.push_back(c.g.squeeze(0));
        }
        return s;
      };
    }
    if (num_samples == 0) throw config::ConfigError("distill: no training sequences");

    core::DistillTrainer trainer(gates, source, num_samples, train, ctx.stage_dir);
    if (trainer.resume_step() > 0)
      ctx.log.info("resuming from checkpoint step {}", trainer.resume_step());
    Progress progress("distill", train.steps);
    trainer.on_step([&](const core::DistillStepMetrics& m) {
      progress.update(m.step, fmt::format("loss {:.4f} lr {:.2e}", m.loss, m.lr));
      ctx.log.file_only(fmt::format("step {} loss {:.6f} lr {:.3e} grad_norm {:.4f} tok/s {:.0f}",
                                    m.step, m.loss, m.lr, m.grad_norm, m.tokens_per_s));
    });
    auto last = trainer.run();
    if (last.step == 0 && trainer.resume_step() > 0) last = last_logged_step(ctx.stage_dir);
    progress.finish(fmt::format("loss {:.4f}", last.loss));
    if (model) model->set_attention_hook(nullptr);
    core::save_gates(gates, ctx.stage_dir / "gates");
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    nlohmann::json out = analysis::run_info(ctx.config);
    out["mode"] = cfg.mode;
    out["samples"] = num_samples;
    out["steps"] = last.step;
    out["final_loss"] = last.loss;
    out["layer_kl"] = last.layer_kl;
    out["gates"] = (ctx.stage_dir / "gates").string();
    out["seconds"] = seconds;
    io::write_file_atomic(ctx.stage_dir / "distill.json", out.dump(2) + "\n");
    ctx.log.info("distilled {} steps, final loss {:.4f}, {:.1f} s -> {}", last.step, last.loss,
                 seconds, (ctx.stage_dir / "gates").string());
  }
};

}  // namespace

std::unique_ptr<Stage> make_distill_stage() { return std::make_unique<DistillStage>(); }

}  // namespace seer::experiments
