// Stage distill: trains the AttnGates (DESIGN.md §3) and writes <stage>/gates/ (core/gate/
// gate_file.h), metrics.jsonl and checkpoints/. Two modes, one loss and optimiser:
//   offline  reads the capture files of `distill.capture` (a stage id of this run, a folder, a
//            .h5 file or a glob) as one dataset (data/capture_dataset.h); a background thread
//            reads the next steps' samples into a bounded queue (`prefetch` samples), so memory
//            stays O(prefetch) whatever the capture's size. The LLM never runs again.
//   online   runs the model with the CaptureHook on each step's windows, one batched prefill per
//            `forward_batch` windows, drawn from the whole training text: every epoch walks all
//            windows of `seq_len` in a seeded order, later epochs on a shifted grid
//            (data/token_windows.h); `num_sequences` > 0 keeps the first that many windows.
// Resumes from its last checkpoint after a kill. Data-parallel under several processes
// (`seer launch --nproc N`, torchrun, srun): each rank reads or computes only its shard of every
// step's windows and the gradients are summed (core/gate/distill_trainer.h), so the gates equal a
// one-process run's with the same train.batch; rank 0 alone writes the stage's outputs.
//   seer run quickstart gate=small train.steps=300 distill.mode=offline
//   seer launch --nproc 2 run quickstart
#include "analysis/run_info.h"
#include "core/config/config_error.h"
#include "core/config/config_reader.h"
#include "core/config/paths.h"
#include "core/gate/capture_hook.h"
#include "core/gate/distill_trainer.h"
#include "core/gate/gate_config.h"
#include "core/gate/gate_file.h"
#include "core/io/atomic_file.h"
#include "core/model/model_spec.h"
#include "data/capture_dataset.h"
#include "data/distill_prefetcher.h"
#include "data/token_windows.h"
#include "experiments/data_splits.h"
#include "experiments/progress.h"
#include "experiments/stage_inputs.h"
#include "experiments/stages/gate_stages.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <fmt/format.h>
#include <hdf5.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

namespace seer::experiments {
namespace {

namespace fs = std::filesystem;

struct DistillStageConfig {
  std::string mode = "offline";     // offline | online
  std::string capture = "capture";  // offline: stage id, folder, .h5 file or glob
  int64_t max_sequences = 0;        // offline: the first N captured sequences (0 = all)
  int64_t prefetch = 32;            // offline: samples read ahead (rounded up to whole steps)
  int64_t micro_batch = 0;          // samples per forward/backward (0 = a whole step's group)
  int64_t seq_len = 2048;           // online
  int64_t num_sequences = 0;        // online: 0 = stream all windows, N = the first N only
  int64_t max_tokens = 0;           // online: tokens of the training text to read (0 = all)
  int64_t forward_batch = 0;        // online: windows per model prefill (0 = a whole step)
  std::vector<int64_t> layers;      // online: layers to train (empty = all)
};

DistillStageConfig parse_distill_stage_config(const config::ConfigReader& r) {
  DistillStageConfig c;
  c.mode = r.get_choice("mode", {"offline", "online"}, c.mode);
  c.capture = r.get<std::string>("capture", c.capture);
  c.max_sequences = r.get<int64_t>("max_sequences", c.max_sequences);
  if (c.max_sequences < 0) r.fail("max_sequences", "expected >= 0 (0 = all)");
  c.prefetch = r.get<int64_t>("prefetch", c.prefetch);
  if (c.prefetch < 1) r.fail("prefetch", "expected >= 1");
  c.micro_batch = r.get<int64_t>("micro_batch", c.micro_batch);
  if (c.micro_batch < 0) r.fail("micro_batch", "expected >= 0 (0 = whole groups)");
  c.seq_len = r.get<int64_t>("seq_len", c.seq_len);
  if (c.seq_len < 1) r.fail("seq_len", "expected >= 1");
  c.num_sequences = r.get<int64_t>("num_sequences", c.num_sequences);
  if (c.num_sequences < 0) r.fail("num_sequences", "expected >= 0 (0 = stream every window)");
  c.max_tokens = r.get<int64_t>("max_tokens", c.max_tokens);
  if (c.max_tokens < 0) r.fail("max_tokens", "expected >= 0 (0 = all)");
  c.forward_batch = r.get<int64_t>("forward_batch", c.forward_batch);
  if (c.forward_batch < 0) r.fail("forward_batch", "expected >= 0 (0 = a whole step)");
  c.layers = r.get<std::vector<int64_t>>("layers", {});
  r.finish();
  return c;
}

// Where offline distillation reads: another stage of this run, else a path (folder, file or glob)
// relative to the project root.
std::string capture_location(const StageContext& ctx, const std::string& value) {
  const fs::path stage = ctx.stage_path(value) / "capture";
  if (fs::is_directory(stage)) return stage.string();
  if (fs::is_directory(ctx.stage_path(value))) return ctx.stage_path(value).string();
  return config::resolve_project_path(value).string();
}

// The captured layers of a step's windows as one group: [B, ...] tensors on the model's device.
core::DistillGroup group_from_capture(std::map<int64_t, core::CapturedLayer> taken,
                                      std::vector<std::string> ids, int64_t tokens) {
  core::DistillGroup g;
  g.ids = std::move(ids);
  g.tokens = tokens;
  for (auto& [layer, c] : taken) {
    g.layers.push_back(layer);
    g.q_pooled.push_back(c.q_pooled);
    g.k_pooled.push_back(c.k_pooled);
    g.g.push_back(c.g);
  }
  return g;
}

// Groups of one shape joined along the batch axis (online prefills of a step in several parts).
core::DistillGroup join_groups(const std::vector<core::DistillGroup>& parts) {
  if (parts.size() == 1) return parts.front();
  core::DistillGroup g = parts.front();
  for (size_t p = 1; p < parts.size(); ++p)
    g.ids.insert(g.ids.end(), parts[p].ids.begin(), parts[p].ids.end());
  for (size_t l = 0; l < g.layers.size(); ++l) {
    std::vector<at::Tensor> q, k, gt;
    for (const auto& part : parts) {
      q.push_back(part.q_pooled[l]);
      k.push_back(part.k_pooled[l]);
      gt.push_back(part.g[l]);
    }
    g.q_pooled[l] = at::cat(q, 0);
    g.k_pooled[l] = at::cat(k, 0);
    g.g[l] = at::cat(gt, 0);
  }
  return g;
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
    return "trains the AttnGates by self-distillation (offline from capture files, or online)";
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
  // Offline, the capture it reads is usually an earlier stage's output: it is checked when read.
  std::vector<std::string> check_inputs(const config::ConfigTree& config) const override {
    std::vector<std::string> warnings;
    const config::ConfigReader distill(config, "distill");
    const auto cfg = parse_distill_stage_config(distill);
    // Offline the gates take the model's shape only; online the model runs.
    const ModelLimits model = check_model_inputs(
        config, cfg.mode == "online" ? ModelNeeds::kWeights : ModelNeeds::kShape);
    if (cfg.mode == "online") {
      check_data_split_files(config);
      check_length_fits(model, distill, "seq_len", cfg.seq_len, warnings);
    }
    return warnings;
  }
  bool data_parallel() const override { return true; }
  void run(StageContext& ctx) override {
    const auto& world = ctx.world;
    const bool writes = world.is_main();
    const auto spec = core::parse_model_spec(config::ConfigReader(ctx.config, "model"));
    const auto gate_cfg = core::parse_gate_config(config::ConfigReader(ctx.config, "gate"));
    auto train = core::parse_distill_train_config(config::ConfigReader(ctx.config, "train"));
    const auto cfg = parse_distill_stage_config(config::ConfigReader(ctx.config, "distill"));
    train.device = world.rank_device(train.device);
    // This rank's share of a step: at most ceil(batch / ranks) samples.
    const int64_t shard = (train.batch + world.size() - 1) / world.size();
    if (world.size() > 1)
      ctx.log.info("data-parallel over {} processes ({}): each reads {} of the {} samples of a "
                   "step, gradients summed; rank 0 writes the outputs", world.size(),
                   world.backend(), shard == train.batch / world.size()
                                        ? fmt::format("{}", shard)
                                        : fmt::format("{}-{}", train.batch / world.size(), shard),
                   train.batch);
    const auto geo = model_gate_geometry(spec);
    core::GateSet gates = core::GateSet::init(gate_cfg, geo.shape, geo.rope, geo.num_layers,
                                              spec.name);
    const auto t0 = std::chrono::steady_clock::now();

    std::unique_ptr<data::CaptureDataset> dataset;        // offline
    std::unique_ptr<data::DistillPrefetcher> prefetcher;
    std::unique_ptr<core::Decoder> model;                 // online
    std::unique_ptr<core::CaptureHook> hook;
    std::vector<int64_t> stream;
    std::unique_ptr<data::TokenWindowSchedule> schedule;
    core::DistillTrainer::BatchSource source;
    nlohmann::json data_info;
    if (cfg.mode == "offline") {
      const std::string location = capture_location(ctx, cfg.capture);
      dataset = std::make_unique<data::CaptureDataset>(data::capture_files(location),
                                                       cfg.max_sequences);
      if (dataset->info().block_size != gate_cfg.block_size)
        throw config::ConfigError(fmt::format(
            "{}: captured with block size {}, gate.block_size is {}", location,
            dataset->info().block_size, gate_cfg.block_size));
      if (dataset->info().q_subblocks != gate_cfg.q_subblocks)
        throw config::ConfigError(fmt::format(
            "{}: captured with {} query sub-blocks per block, gate.q_subblocks is {} (set "
            "capture.q_subblocks to the gate's)", location, dataset->info().q_subblocks,
            gate_cfg.q_subblocks));
      if (dataset->size() == 0) throw config::ConfigError("distill: no training sequences in " + location);
      hbool_t threadsafe = 0;
      H5is_library_threadsafe(&threadsafe);
      ctx.log.info("offline distillation from {} ({} files, {} sequences, {} tokens; HDF5 {} "
                   "thread-safe, read on one background thread)", location,
                   dataset->files().size(), dataset->size(), dataset->tokens(),
                   threadsafe ? "built" : "not built");
      data::CaptureReadLayout layout;
      layout.q_kinds = gate_cfg.q_pools;
      layout.k_kinds = gate_cfg.k_pools;
      layout.pin = at::Device(train.device).is_cuda();
      const int64_t n = dataset->size(), seed = train.seed;
      // The background thread is the only user of the dataset (and of HDF5) from here on.
      prefetcher = std::make_unique<data::DistillPrefetcher>(
          [&dataset, layout, n, seed](int64_t first, int64_t count) {
            std::vector<int64_t> indices;
            for (int64_t c = first; c < first + count; ++c)
              indices.push_back(core::distill_sample_index(seed, c, n));
            return dataset->read_batch(indices, layout);
          },
          (cfg.prefetch + shard - 1) / shard, /*stride=*/train.batch);
      source = [&prefetcher](int64_t first, int64_t count) {
        return prefetcher->next(first, count);
      };
      data_info = {{"capture", location}, {"files", dataset->files().size()},
                   {"sequences", dataset->size()}, {"unique_tokens", dataset->tokens()}};
    } else {
      model = std::make_unique<core::Decoder>(core::load_decoder(spec));
      stream = gate_training_tokens(ctx.config, spec, cfg.max_tokens);
      if (static_cast<int64_t>(stream.size()) < cfg.seq_len)
        throw config::ConfigError(fmt::format("distill.seq_len = {}: the training text has {} tokens",
                                              cfg.seq_len, stream.size()));
      schedule = std::make_unique<data::TokenWindowSchedule>(
          static_cast<int64_t>(stream.size()), cfg.seq_len, train.seed, cfg.num_sequences);
      core::CaptureOptions opts;
      opts.block = gate_cfg.block_size;
      opts.q_subblocks = gate_cfg.q_subblocks;
      opts.layers = cfg.layers;
      opts.to_host = false;   // the gates read the windows' tensors where the model made them
      hook = std::make_unique<core::CaptureHook>(opts);
      model->set_attention_hook(hook.get());
      const int64_t chunk = std::max<int64_t>(
          gate_cfg.block_size, spec.chunk_size / gate_cfg.block_size * gate_cfg.block_size);
      ctx.log.info("online distillation over {} tokens: {} windows of {} tokens per epoch{}",
                   stream.size(), schedule->windows(0), cfg.seq_len,
                   cfg.num_sequences > 0 ? " (capped by distill.num_sequences)"
                                         : ", later epochs on shifted grids");
      const int64_t S = cfg.seq_len, per_forward = cfg.forward_batch;
      source = [&, chunk, S, per_forward](int64_t first, int64_t count) {
        at::NoGradGuard no_grad;
        const int64_t fb = per_forward > 0 ? per_forward : count;
        std::vector<core::DistillGroup> parts;
        for (int64_t c = first; c < first + count; c += fb) {
          const int64_t B = std::min(fb, first + count - c);
          auto tokens = at::empty({B, S}, at::TensorOptions().dtype(at::kLong));
          std::vector<std::string> ids;
          for (int64_t b = 0; b < B; ++b) {
            const int64_t start = schedule->start(c + b);
            std::copy(stream.begin() + start, stream.begin() + start + S,
                      tokens.data_ptr<int64_t>() + b * S);
            ids.push_back(fmt::format("tok_{}", start));
          }
          auto cache = model->new_cache();
          model->prefill(tokens, cache, chunk);
          parts.push_back(group_from_capture(hook->take(), std::move(ids), S));
        }
        core::DistillBatch batch;
        batch.groups.push_back(join_groups(parts));
        return batch;
      };
      data_info = {{"stream_tokens", stream.size()}, {"windows_per_epoch", schedule->windows(0)}};
    }

    core::DistillTrainer trainer(gates, source, train, ctx.stage_dir);
    trainer.set_micro_batch(cfg.micro_batch);
    trainer.set_world(world);
    const int64_t resume_step = writes ? trainer.resume_step() : 0;
    if (resume_step > 0) ctx.log.info("resuming from checkpoint step {}", resume_step);
    std::optional<Progress> progress;
    if (writes) progress.emplace("distill", train.steps);
    if (progress && resume_step > 0) progress->update_reused(resume_step);
    trainer.on_step([&](const core::DistillStepMetrics& m) {
      if (!progress) return;
      progress->update(m.step, fmt::format("loss {:.4f} lr {:.2e}", m.loss, m.lr));
      ctx.log.file_only(fmt::format("step {} loss {:.6f} lr {:.3e} grad_norm {:.4f} tok/s {:.0f}",
                                    m.step, m.loss, m.lr, m.grad_norm, m.tokens_per_s));
    });
    auto last = trainer.run();
    prefetcher.reset();   // stops reading ahead
    if (model) model->set_attention_hook(nullptr);
    if (!writes) return;
    if (last.step == 0 && resume_step > 0) last = last_logged_step(ctx.stage_dir);
    progress->finish(fmt::format("loss {:.4f}", last.loss));
    core::save_gates(gates, ctx.stage_dir / "gates");
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    nlohmann::json out = analysis::run_info(ctx.config);
    out["mode"] = cfg.mode;
    out["data"] = data_info;
    out["samples_seen"] = last.step * train.batch;
    out["processes"] = world.size();
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
