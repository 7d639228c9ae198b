// Stage bench_prefill: end-to-end prefill time, dense vs sparse, at several prompt lengths (the
// paper's prefill speed-up figure). One prefill = the whole model forward over the prompt (gate
// scoring and mask building included, logits of the last position only), timed on the host clock
// around a device synchronisation, median of `reps` after `warmup` runs. Speed-up = the dense
// median / the setting's median at the same length; the measured sparsity sits beside it.
//
// Weights are either the `model` checkpoint (prompts are the `data.eval` split, so gate thresholds
// see real text) or random weights of `bench_prefill.shape` (e.g. Llama-3.1-8B, which cannot be
// downloaded here; time does not depend on weight values; prompts are random token ids). Gates are
// a trained gates folder / stage id, or `random` (freshly initialised from `gate`, timing only:
// use top-k keep ratios then, since thresholds on untrained scores mean nothing). With
// `profile_phases: true`, one more prefill per sparse cell times each step of the sparse hook
// (gate, mask, index, attention) between device syncs and records it as `phases_ms`.
// Under several processes (`seer launch`) the cells (a setting at a length) are shared out over
// the ranks (experiments/sharded_items.h); rank 0 writes the same tables and rows as one process.
//   seer run paper_prefill                     # GPU, Llama-3.1-8B shape
//   seer run paper_prefill_smoke               # CPU, embedded model, minutes
#include "analysis/python_plot.h"
#include "analysis/results_table.h"
#include "analysis/run_info.h"
#include "core/config/config_reader.h"
#include "core/gate/gate_file.h"
#include "core/gate/gate_set.h"
#include "core/gate/gated_attention_hook.h"
#include "core/io/atomic_file.h"
#include "core/model/model_spec.h"
#include "core/model/random_decoder.h"
#include "core/sparsity/sparsity_policy.h"
#include "experiments/bench_kernels_lib.h"
#include "experiments/corpus_tokens.h"
#include "experiments/data_splits.h"
#include "experiments/device_clock.h"
#include "experiments/eval_grid.h"
#include "experiments/progress.h"
#include "experiments/sharded_items.h"
#include "experiments/stage.h"
#include "experiments/stage_inputs.h"
#include "experiments/stages/stages.h"
#include "experiments/sweep_grid.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <utility>

namespace fs = std::filesystem;

namespace seer::experiments {
namespace {

struct PrefillBenchConfig {
  std::string weights = "model";   // model | random
  core::ModelConfig shape;         // weights: random
  std::string gates;               // "" (none), "random", a stage id of this run or a folder
  int64_t block_size = 64;         // for policies without gates; gates bring their own
  std::vector<int64_t> lengths;
  int64_t chunk_size = 0;          // 0 = the whole prompt in one forward (as the paper times it)
  int warmup = 1;
  int reps = 3;
  int64_t seed = 0;                // random weights and prompts
  bool profile_phases = false;     // one more prefill per sparse cell, each hook step timed
  std::vector<SweepSetting> settings;
};

// bench_prefill.shape: the architecture fields of a Hugging Face config.json that set the cost.
core::ModelConfig parse_shape(const config::ConfigReader& r) {
  core::ModelConfig c;
  c.vocab_size = r.get<int64_t>("vocab_size");
  c.hidden_size = r.get<int64_t>("hidden_size");
  c.intermediate_size = r.get<int64_t>("intermediate_size");
  c.num_hidden_layers = r.get<int64_t>("num_hidden_layers");
  c.num_attention_heads = r.get<int64_t>("num_attention_heads");
  c.num_key_value_heads = r.get<int64_t>("num_key_value_heads");
  c.head_dim = r.get<int64_t>("head_dim", c.num_attention_heads > 0 ? c.hidden_size / c.num_attention_heads : 0);
  c.rope.theta = r.get<double>("rope_theta", c.rope.theta);
  c.max_position_embeddings = r.get<int64_t>("max_position_embeddings", 131072);
  r.finish();
  try {
    c.validate(r.path());
  } catch (const std::exception& e) {
    r.fail("num_attention_heads", e.what());
  }
  return c;
}

PrefillBenchConfig parse_bench_prefill(const config::ConfigTree& tree) {
  config::ConfigReader r(tree, "bench_prefill");
  PrefillBenchConfig c;
  c.weights = r.get_choice("weights", {"model", "random"}, c.weights);
  if (c.weights == "random") {
    if (!r.has("shape")) r.fail("shape", "weights: random needs the model shape (see paper_prefill)");
    c.shape = parse_shape(r.child("shape"));
  } else if (r.has("shape")) {
    r.fail("shape", "only read with weights: random (the checkpoint of `model` has its own shape)");
  }
  c.gates = r.get<std::string>("gates", "");
  c.block_size = core::read_block_size(r, "block_size", c.block_size);
  c.lengths = r.get<std::vector<int64_t>>("lengths");
  if (c.lengths.empty()) r.fail("lengths", "expected at least one prompt length");
  for (int64_t n : c.lengths) {
    if (n < 2) r.fail("lengths", fmt::format("every length must be >= 2, got {}", n));
  }
  c.chunk_size = read_prefill_chunk(r, c.block_size, c.chunk_size);
  c.warmup = r.get<int>("warmup", c.warmup);
  if (c.warmup < 0) r.fail("warmup", "expected >= 0");
  c.reps = r.get<int>("reps", c.reps);
  if (c.reps < 1) r.fail("reps", "expected >= 1");
  c.seed = r.get<int64_t>("seed", c.seed);
  c.profile_phases = r.get<bool>("profile_phases", c.profile_phases);
  c.settings = expand_sweep_methods(r);
  r.finish();
  bool any_dense = false;
  for (const auto& s : c.settings) {
    const auto policy =
        core::parse_sparsity_policy(config::ConfigReader(setting_config(tree, s), "sparsity"));
    any_dense = any_dense || !policy->is_sparse();
    if (policy->needs_gate() && c.gates.empty()) {
      r.fail("gates", fmt::format("method '{}' uses gate scores: set gates to a distill stage id, a "
                                  "gates folder, or `random` (untrained gates, timing only)",
                                  s.method));
    }
  }
  if (!any_dense) {
    r.fail("methods", "list a dense method ({policy: dense}): speed-ups are relative to it");
  }
  return c;
}

struct Timed {
  double median_ms = 0, min_ms = 0;
  double sparsity = 0;
  std::optional<int64_t> peak_bytes;
  std::optional<core::HookPhaseTimes> phases;   // summed over the layers of one prefill
};

// Prefills `prompt` warmup + reps times under `hook` (null = dense) and times each run.
Timed time_prefill(core::Decoder& model, const at::Tensor& prompt, core::GatedAttentionHook* hook,
                   const PrefillBenchConfig& cfg) {
  const at::Device device = model.device();
  const int64_t chunk = cfg.chunk_size > 0 ? cfg.chunk_size : prompt.size(1);
  std::vector<double> ms;
  Timed out;
  const core::ScopedAttentionHook attached(model, hook);
  for (int i = 0; i < cfg.warmup + cfg.reps; ++i) {
    if (hook) hook->stats().clear();
    core::KVCache cache = model.new_cache();
    synchronize_device(device);
    if (i == cfg.warmup) reset_peak_memory(device);
    const auto t0 = std::chrono::steady_clock::now();
    const at::Tensor last = model.prefill(prompt, cache, chunk);
    synchronize_device(device);
    const auto t1 = std::chrono::steady_clock::now();
    if (i >= cfg.warmup) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    if (i == cfg.warmup && !at::isfinite(last).all().item<bool>()) {
      throw std::runtime_error("bench_prefill: the prefill produced non-finite logits");
    }
  }
  out.peak_bytes = peak_memory_bytes(device);
  if (cfg.profile_phases && hook) {
    // A separate, slower prefill: every step of the hook is timed between device syncs. The hook
    // belongs to this one cell, so a throw here needs no clean-up beyond the guard's.
    hook->time_phases([device] { synchronize_device(device); });
    core::KVCache cache = model.new_cache();
    model.prefill(prompt, cache, chunk);
    out.phases = hook->phase_times();
    hook->time_phases({});
  }
  std::sort(ms.begin(), ms.end());
  out.min_ms = ms.front();
  out.median_ms = ms.size() % 2 ? ms[ms.size() / 2] : 0.5 * (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]);
  out.sparsity = hook ? hook->stats().overall() : 0.0;
  return out;
}

// One cell of the benchmark: a setting at a prompt length.
struct PrefillCell {
  int64_t length = 0;
  const SweepSetting* setting = nullptr;
  const core::SparsityPolicy* policy = nullptr;
  std::string id;   // "<index>_<cell_id(setting, length)>"
};

// A cell's measurement as it travels to rank 0.
nlohmann::json timed_json(const Timed& t) {
  nlohmann::json j = {{"ms", t.median_ms}, {"ms_min", t.min_ms}, {"sparsity", t.sparsity},
                      {"peak_bytes", t.peak_bytes ? nlohmann::json(*t.peak_bytes)
                                                  : nlohmann::json(nullptr)}};
  if (t.phases)
    j["phases_ms"] = {{"gate", t.phases->gate_ms}, {"mask", t.phases->mask_ms},
                      {"index", t.phases->index_ms}, {"attention", t.phases->attention_ms},
                      {"layer_calls", t.phases->calls}};
  return j;
}

// What rank 0 writes: the speed-up and time tables and the rows of prefill.json, filled cell by
// cell in the grid's order (each length's dense cells first).
struct PrefillTables {
  analysis::ResultsTable speedups, times;
  nlohmann::json rows = nlohmann::json::array();
  std::optional<double> dense_ms;   // of the length being filled
  int64_t length = 0;

  explicit PrefillTables(const std::string& model) {
    speedups.title =
        fmt::format("Prefill speed-up over dense ({}), measured sparsity in brackets", model);
    speedups.score_name = "speedup";
    speedups.score_digits = 2;
    times.title = fmt::format("Prefill time in ms ({}), measured sparsity in brackets", model);
    times.score_name = "ms";
    times.score_digits = 1;
  }

  void add(StageContext& ctx, const PrefillCell& c, const PrefillBenchConfig& cfg, int64_t block,
           const nlohmann::json& t) {
    if (c.length != length) {
      length = c.length;
      dense_ms.reset();
    }
    const double ms = t.at("ms").get<double>(), sparsity = t.at("sparsity").get<double>();
    if (!c.policy->is_sparse() && !dense_ms) dense_ms = ms;
    nlohmann::json row = setting_json(*c.setting, c.policy->name(), block);
    row["length"] = c.length;
    row["ms"] = ms;
    row["ms_min"] = t.at("ms_min");
    row["reps"] = cfg.reps;
    row["sparsity"] = sparsity;
    row["speedup"] = *dense_ms / ms;
    row["tokens_per_s"] = 1000.0 * static_cast<double>(c.length) / ms;
    const auto& peak = t.at("peak_bytes");
    row["peak_memory_gib"] = peak.is_null() ? nlohmann::json(nullptr)
                                            : nlohmann::json(peak.get<int64_t>() / 1073741824.0);
    if (t.contains("phases_ms")) row["phases_ms"] = t["phases_ms"];
    for (auto* table : {&speedups, &times}) {
      auto& cell = table->at(c.setting->label, std::to_string(c.length));
      cell.score = table == &times ? ms : row["speedup"].get<double>();
      cell.sparsity = sparsity;
    }
    ctx.log.info("  {:<32} len {:>6}: {:>10.2f} ms  x{:.2f}  sparsity {:.1f}%{}",
                 c.setting->label, c.length, ms, row["speedup"].get<double>(), 100.0 * sparsity,
                 peak.is_null() ? std::string()
                                : fmt::format("  peak {:.1f} GiB",
                                              peak.get<int64_t>() / 1073741824.0));
    if (t.contains("phases_ms")) {   // under the row it belongs to
      const auto& p = t["phases_ms"];
      ctx.log.info("    phases (one prefill, synced): gate {:.1f} ms, mask {:.1f}, index {:.1f}, "
                   "attention {:.1f}", p["gate"].get<double>(), p["mask"].get<double>(),
                   p["index"].get<double>(), p["attention"].get<double>());
    }
    rows.push_back(std::move(row));
  }
};

class BenchPrefillStage final : public Stage {
 public:
  std::string name() const override { return "bench_prefill"; }
  std::string summary() const override {
    return "end-to-end prefill time dense vs sparse at several lengths, gate time included "
           "(prefill.json, table.md, speedup_vs_sparsity.png)";
  }
  std::vector<std::string> sections() const override {
    return {"bench_prefill", "model", "data", "gate"};
  }
  void validate(const config::ConfigTree& config) const override {
    const auto cfg = parse_bench_prefill(config);
    core::parse_model_spec(config::ConfigReader(config, "model"));
    if (cfg.weights == "model") validate_data_splits(config, "eval");
    if (cfg.gates == "random") core::parse_gate_config(config::ConfigReader(config, "gate"));
  }
  // Random weights take their shape from the config; a checkpoint and its text must be there.
  std::vector<std::string> check_inputs(const config::ConfigTree& config) const override {
    std::vector<std::string> warnings;
    const auto cfg = parse_bench_prefill(config);
    if (cfg.weights != "model") return warnings;
    const ModelLimits model = check_model_inputs(config);
    check_data_split_files(config);
    const config::ConfigReader bench(config, "bench_prefill");
    for (const int64_t n : cfg.lengths) check_length_fits(model, bench, "lengths", n, warnings);
    return warnings;
  }

  bool data_parallel() const override { return true; }

  void run(StageContext& ctx) override {
    const auto cfg = parse_bench_prefill(ctx.config);
    auto spec = core::parse_model_spec(config::ConfigReader(ctx.config, "model"));
    // Each rank of a multi-process run on its own GPU of the host.
    spec.device = ctx.world.rank_device(spec.device);
    const at::Device device = core::model_device(spec);
    const auto& world = ctx.world;
    at::NoGradGuard no_grad;

    core::Decoder model = load_model(ctx, cfg, spec);
    const int64_t longest = *std::max_element(cfg.lengths.begin(), cfg.lengths.end());
    const std::vector<int64_t> text = prompt_tokens(ctx, cfg, spec, model, longest);
    int64_t block = cfg.block_size;
    std::optional<core::GateSet> gates = make_gates(ctx, cfg, spec, model, &block);

    // Each setting's policy, dense first, so every sparse row has its speed-up when it is written.
    std::vector<std::pair<const SweepSetting*, std::unique_ptr<core::SparsityPolicy>>> policies;
    for (const auto& s : cfg.settings) {
      policies.emplace_back(&s, core::parse_sparsity_policy(
                                    config::ConfigReader(setting_config(ctx.config, s), "sparsity")));
    }
    std::stable_partition(policies.begin(), policies.end(),
                          [](const auto& c) { return !c.second->is_sparse(); });
    std::vector<PrefillCell> grid;
    std::map<std::string, size_t> index_of;
    for (const int64_t length : cfg.lengths)
      for (const auto& [setting, policy] : policies) {
        // The grid index keeps ids unique when a length is listed twice.
        PrefillCell c{length, setting, policy.get(),
                      fmt::format("{}_{}", grid.size(), cell_id(*setting, length))};
        index_of[c.id] = grid.size();
        grid.push_back(std::move(c));
      }

    // Rank 0 hands the cells out (experiments/sharded_items.h) and lays the rows out in the order
    // one process measures them: a cell is written once every cell before it is in, so the dense
    // time of its length is known. Under several processes a speed-up compares two ranks' devices
    // (identical cards of one host; on a CPU the ranks share its cores).
    std::optional<PrefillTables> tables;
    std::vector<nlohmann::json> measured(grid.size());
    std::optional<Progress> progress;
    int64_t done = 0;
    std::vector<std::string> pending;
    if (world.is_main()) {
      tables.emplace(model_label(cfg, spec));
      progress.emplace("bench_prefill", static_cast<int64_t>(grid.size()));
      for (const auto& c : grid) pending.push_back(c.id);
    }
    if (world.size() > 1)
      ctx.log.info("bench_prefill: {} cells over {} processes (cell k on rank k % {})",
                   grid.size(), world.size(), world.size());
    size_t written = 0;
    run_sharded_items(
        world, ctx.stage_id + "/cells", pending,
        [&](const std::vector<std::string>& mine, const ItemDone& finished) {
          std::map<int64_t, at::Tensor> prompts;
          for (const auto& id : mine) {
            const PrefillCell& c = grid.at(index_of.at(id));
            auto& prompt = prompts[c.length];
            if (!prompt.defined())
              prompt = at::tensor(std::vector<int64_t>(text.begin(), text.begin() + c.length),
                                  at::kLong).view({1, c.length}).to(device);
            std::optional<core::GatedAttentionHook> hook;
            if (c.policy->is_sparse())
              hook.emplace(c.policy->needs_gate() ? &*gates : nullptr, c.policy, block);
            finished(id, timed_json(time_prefill(model, prompt, hook ? &*hook : nullptr, cfg)));
          }
        },
        [&](const std::string& id, nlohmann::json result) {
          measured[index_of.at(id)] = std::move(result);
          for (; written < grid.size() && !measured[written].is_null(); ++written) {
            const PrefillCell& c = grid[written];
            tables->add(ctx, c, cfg, block, measured[written]);
            progress->update(++done, c.setting->label);
            // After every length, so a long run killed at 128k keeps what it measured.
            if (written + 1 == grid.size() || grid[written + 1].length != c.length)
              write_tables(ctx, cfg, spec, *tables);
          }
        });
    if (!world.is_main()) return;
    progress->finish();
    ctx.log.info("\n{}", tables->speedups.to_markdown() + "\n" + tables->times.to_markdown());
    write_plot(ctx, cfg, spec, tables->rows);
  }

 private:
  static std::string model_label(const PrefillBenchConfig& cfg, const core::ModelSpec& spec) {
    if (cfg.weights == "model") return spec.name + ", " + spec.dtype;
    const auto& s = cfg.shape;
    return fmt::format("random weights, {} layers, hidden {}, {}/{} heads x {}, {}",
                       s.num_hidden_layers, s.hidden_size, s.num_attention_heads,
                       s.num_key_value_heads, s.head_dim, spec.dtype);
  }

  static core::Decoder load_model(StageContext& ctx, const PrefillBenchConfig& cfg,
                                  const core::ModelSpec& spec) {
    if (cfg.weights == "model") {
      ctx.log.info("loading {} ({}, {}, {})", spec.path, spec.format, spec.dtype, spec.device);
      return core::load_decoder(spec);
    }
    ctx.log.info("random weights of the shape in bench_prefill.shape ({}, {}), seed {}",
                 spec.dtype, spec.device, cfg.seed);
    return core::random_decoder(cfg.shape, core::model_dtype(spec), core::model_device(spec), cfg.seed);
  }

  // The first `n` tokens of data.eval for a real model; seeded random ids for random weights.
  static std::vector<int64_t> prompt_tokens(StageContext& ctx, const PrefillBenchConfig& cfg,
                                            const core::ModelSpec& spec, const core::Decoder& model,
                                            int64_t n) {
    // A random model's context is its shape's; a checkpoint's may be capped by model.max_context.
    const int64_t limit = cfg.weights == "random"
                              ? model.config().max_position_embeddings
                              : spec.max_context.value_or(model.config().max_position_embeddings);
    if (n > limit) {
      throw std::runtime_error(fmt::format(
          "bench_prefill.lengths: {} tokens is longer than the model's context {} ({})", n, limit,
          cfg.weights == "random" ? "bench_prefill.shape.max_position_embeddings"
                                  : "model.max_context or the checkpoint's max_position_embeddings"));
    }
    if (cfg.weights == "random") {
      auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(cfg.seed));
      const at::Tensor ids = at::randint(model.config().vocab_size, {n}, gen, at::kLong);
      return std::vector<int64_t>(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + n);
    }
    auto tokens = split_tokens(ctx.config, "eval", core::load_tokenizer(spec), n);
    if (static_cast<int64_t>(tokens.size()) < n) {
      throw std::runtime_error(fmt::format("bench_prefill: the data.eval split has {} tokens, fewer "
                                           "than the longest length {}", tokens.size(), n));
    }
    return tokens;
  }

  static std::optional<core::GateSet> make_gates(StageContext& ctx, const PrefillBenchConfig& cfg,
                                                 const core::ModelSpec& spec,
                                                 const core::Decoder& model, int64_t* block) {
    if (cfg.gates.empty()) return std::nullopt;
    std::optional<core::GateSet> gates;
    if (cfg.gates == "random") {
      const auto gate_cfg = core::parse_gate_config(config::ConfigReader(ctx.config, "gate"));
      const auto& m = model.config();
      ctx.log.info("untrained gates ({}, block {}, seed {}): timing only", gate_cfg.type_name(),
                   gate_cfg.block_size, gate_cfg.seed);
      gates = core::GateSet::init(gate_cfg,
                                  core::GateShape{m.num_attention_heads, m.num_key_value_heads, m.head_dim},
                                  core::GateRope{m.rope, m.max_position_embeddings},
                                  m.num_hidden_layers, "random");
    } else {
      const fs::path dir = ctx.gates_path(cfg.gates);
      ctx.log.info("gates from {}", dir.string());
      gates = core::load_gates(dir);
      if (gates->num_layers() != model.config().num_hidden_layers) {
        throw std::runtime_error(fmt::format("bench_prefill.gates: {} has {} layers, the model {}",
                                             dir.string(), gates->num_layers(),
                                             model.config().num_hidden_layers));
      }
    }
    gates->to(core::model_device(spec), at::kFloat);
    *block = gates->config.block_size;
    return gates;
  }

  static std::string device_label(const core::ModelSpec& spec) {
    // "cuda" or, under several processes, the rank's "cuda:<local rank>".
    return spec.device.rfind("cuda", 0) == 0 ? cuda_device_name() : std::string("cpu");
  }

  static void write_tables(StageContext& ctx, const PrefillBenchConfig& cfg,
                           const core::ModelSpec& spec, const PrefillTables& tables) {
    nlohmann::json out = analysis::run_info(ctx.config);
    out["device"] = device_label(spec);
    out["model"] = model_label(cfg, spec);
    out["rows"] = tables.rows;
    io::write_file_atomic(ctx.stage_dir / "prefill.json", out.dump(2) + "\n");
    io::write_file_atomic(ctx.stage_dir / "table.md",
                          tables.speedups.to_markdown() + "\n" + tables.times.to_markdown());
    io::write_file_atomic(ctx.stage_dir / "table.csv", tables.speedups.to_csv());
    io::write_file_atomic(ctx.stage_dir / "times.csv", tables.times.to_csv());
  }

  static void write_plot(StageContext& ctx, const PrefillBenchConfig& cfg,
                         const core::ModelSpec& spec, const nlohmann::json& rows) {
    nlohmann::json plot = {{"title", fmt::format("Prefill speed-up over dense ({}, {})",
                                                 model_label(cfg, spec), device_label(spec))},
                           {"rows", nlohmann::json::array()}};
    for (const auto& r : rows) {
      plot["rows"].push_back({{"series", fmt::format("{} @{}", r["method"].get<std::string>(),
                                                     r["length"].get<int64_t>())},
                              {"sparsity", r["sparsity"]}, {"speedup", r["speedup"]}});
    }
    io::write_file_atomic(ctx.stage_dir / "speedup.json", plot.dump(2) + "\n");
    if (auto why = analysis::try_plot_script("speedup_vs_sparsity.py",
                                             {(ctx.stage_dir / "speedup.json").string(),
                                              (ctx.stage_dir / "speedup_vs_sparsity.png").string()})) {
      ctx.log.info("warning: no plot: {}", *why);
    }
  }
};

}  // namespace

std::unique_ptr<Stage> make_bench_prefill_stage() { return std::make_unique<BenchPrefillStage>(); }

}  // namespace seer::experiments
