// Stage sweep: perplexity of the model under every sparsity setting of a grid (methods x their
// list-valued keys x context lengths), each cell with its own resolved config.yaml and result.json
// under cells/, resumable cell by cell. Writes table.md / table.csv laid out like the paper
// (methods as rows, context lengths as columns, measured sparsity beside each perplexity) and
// results.json with every cell, and two plots: perplexity vs sparsity, and the sparsity of every
// layer and head (sparsity_layers_heads.png). Gate policies use the gates of `sweep.gates`, or a
// method's own `gates:` (e.g. the gates of an earlier training, to compare both in one table).
// Every method family is also interpolated to common sparsities (equal_sparsity.md / .csv /
// .json, analysis/equal_sparsity.h). Calibrated-threshold policies read the thresholds.json of a
// calibrate stage at the cell's context.
// Under several processes (`seer launch`) the cells still to run are shared out over the ranks
// (experiments/sharded_items.h); rank 0 writes them all and the tables, as one process would.
//   seer run quickstart sweep.contexts=[1024,2048]
#include "analysis/equal_sparsity.h"
#include "analysis/python_plot.h"
#include "analysis/results_table.h"
#include "analysis/run_info.h"
#include "core/config/config_reader.h"
#include "core/config/paths.h"
#include "core/gate/gate_file.h"
#include "core/gate/gated_attention_hook.h"
#include "core/io/atomic_file.h"
#include "core/model/model_spec.h"
#include "core/model/perplexity.h"
#include "core/sparsity/sparsity_policy.h"
#include "experiments/corpus_tokens.h"
#include "experiments/data_splits.h"
#include "experiments/eval_grid.h"
#include "experiments/gate_folders.h"
#include "experiments/policy_resources.h"
#include "experiments/progress.h"
#include "experiments/runner.h"
#include "experiments/sharded_items.h"
#include "experiments/stage.h"
#include "experiments/stage_inputs.h"
#include "experiments/stages/stages.h"
#include "experiments/sweep_grid.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <optional>

namespace fs = std::filesystem;

namespace seer::experiments {
namespace {

struct SweepConfig {
  std::vector<int64_t> contexts;
  int64_t max_tokens = 8192;
  int64_t chunk_size = 512;
  int64_t block_size = 64;     // for policies without gates; gates bring their own
  std::string gates;           // stage id of this run (its gates/), a path, or "" (no gates)
  std::vector<SweepSetting> settings;
  std::vector<double> equal_sparsity = {0.5, 0.7, 0.8, 0.9, 0.95};   // targets of equal_sparsity.md
  bool check_finite = true;    // NaN / Inf in activations, gate scores or logits stop the cell
};

SweepConfig parse_sweep(const config::ConfigTree& tree) {
  config::ConfigReader r(tree, "sweep");
  SweepConfig c;
  c.contexts = r.get<std::vector<int64_t>>("contexts");
  if (c.contexts.empty()) r.fail("contexts", "expected at least one context length");
  for (auto ctx : c.contexts) {
    if (ctx < 2) r.fail("contexts", "every context must be >= 2");
  }
  c.max_tokens = r.get<int64_t>("max_tokens", c.max_tokens);
  if (c.max_tokens < 0) r.fail("max_tokens", "expected >= 0 (0 = the whole eval split)");
  c.chunk_size = r.get<int64_t>("chunk_size", c.chunk_size);
  c.block_size = core::read_block_size(r, "block_size", c.block_size);
  if (c.chunk_size <= 0 || c.chunk_size % c.block_size != 0) {
    r.fail("chunk_size", fmt::format("expected a positive multiple of the block size {} (chunked "
                                     "prefill keeps query blocks whole)", c.block_size));
  }
  c.gates = r.get<std::string>("gates", "");
  c.equal_sparsity = r.get<std::vector<double>>("equal_sparsity", c.equal_sparsity);
  if (c.equal_sparsity.empty()) r.fail("equal_sparsity", "expected at least one target sparsity");
  for (double t : c.equal_sparsity)
    if (!(t > 0.0 && t <= 1.0)) r.fail("equal_sparsity", fmt::format("{} is not a sparsity in (0, 1]", t));
  c.check_finite = r.get<bool>("check_finite");
  c.settings = expand_sweep_methods(r, /*allow_gates=*/true);
  r.finish();
  // Each setting must be a valid sparsity section: check them all before anything runs.
  for (const auto& s : c.settings) {
    const auto cell = cell_config(tree, s, c.contexts.front());
    const auto policy = core::parse_sparsity_policy(config::ConfigReader(cell, "sparsity"));
    if (policy->needs_gate() && c.gates.empty() && s.gates.empty()) {
      r.fail("gates", fmt::format("method '{}' uses gate scores: set sweep.gates or the method's "
                                  "own gates", s.method));
    }
  }
  return c;
}

nlohmann::json load_json(const fs::path& p) { return nlohmann::json::parse(io::read_file(p)); }

struct LoadedGates {
  core::GateSet set;
  std::string fingerprint;   // gates_fingerprint of their folder
};

class SweepStage final : public Stage {
 public:
  std::string name() const override { return "sweep"; }
  std::string summary() const override {
    return "perplexity under a grid of sparsity settings x context lengths (table.md, results.json)";
  }
  std::vector<std::string> sections() const override {
    return {"model", "data", "gate", "sweep", "sparsity", "eval"};
  }
  void validate(const config::ConfigTree& config) const override {
    core::parse_model_spec(config::ConfigReader(config, "model"));
    validate_data_splits(config, "eval");
    parse_sweep(config);
  }
  // Cells are shared out over the ranks of a multi-process run; rank 0 writes them all.
  bool data_parallel() const override { return true; }
  std::vector<std::string> check_inputs(const config::ConfigTree& config) const override {
    std::vector<std::string> warnings;
    const ModelLimits model = check_model_inputs(config);
    check_data_split_files(config);
    const config::ConfigReader sweep(config, "sweep");
    const SweepConfig cfg = parse_sweep(config);
    for (const int64_t context : cfg.contexts)
      check_length_fits(model, sweep, "contexts", context, warnings);
    const int64_t longest = *std::max_element(cfg.contexts.begin(), cfg.contexts.end());
    if (cfg.max_tokens > 0 && cfg.max_tokens < longest)
      sweep.fail("max_tokens", fmt::format("{} tokens is less than one window of the longest "
                                           "context {} (sweep.contexts; 0 = the whole eval split)",
                                           cfg.max_tokens, longest));
    return warnings;
  }

  void run(StageContext& ctx) override {
    const auto cfg = parse_sweep(ctx.config);
    auto spec = core::parse_model_spec(config::ConfigReader(ctx.config, "model"));
    // Each rank of a multi-process run on its own GPU of the host.
    spec.device = ctx.world.rank_device(spec.device);
    const auto tok = core::load_tokenizer(spec);
    // Held-out text: the eval split, which shares no token with the train split (split_tokens).
    const auto tokens = split_tokens(ctx.config, "eval", tok, cfg.max_tokens);
    require_one_window(ctx.config, "eval", tokens.size(),
                       *std::max_element(cfg.contexts.begin(), cfg.contexts.end()), "sweep.contexts");
    core::Decoder model = core::load_decoder(spec);
    ctx.log.info("sweep: {} settings x {} contexts over {} tokens of data.eval, {}",
                 cfg.settings.size(), cfg.contexts.size(), tokens.size(), spec.name);

    // The sweep's own gates, loaded (and checked) as an eval grid's when a method reads them; a
    // method's own gates are loaded once each on first use.
    EvalGridConfig grid;
    grid.gates = cfg.gates;
    grid.block_size = cfg.block_size;
    for (const auto& s : cfg.settings)
      if (s.gates.empty()) grid.settings.push_back(s);
    int64_t block = 0;
    std::map<std::string, LoadedGates> gate_sets;
    if (auto g = load_grid_gates(ctx, grid, "sweep", spec, &block)) {
      gate_sets.emplace(cfg.gates, LoadedGates{std::move(*g), gates_fingerprint(ctx.gates_path(cfg.gates))});
    }
    auto gates_of = [&](const std::string& id) -> const LoadedGates& {
      auto it = gate_sets.find(id);
      if (it != gate_sets.end()) return it->second;
      const fs::path dir = ctx.gates_path(id);
      if (gate_layout(dir) == GateLayout::kNone) {
        throw std::runtime_error(fmt::format("sweep: no gates '{}': neither a stage of this run "
                                             "that wrote gates/ nor a gates folder ({})", id,
                                             dir.string()));
      }
      ctx.log.info("gates '{}' from {}", id, dir.string());
      core::GateSet g = load_gates_for_model(dir, spec);
      g.to(core::model_device(spec), at::kFloat);
      return gate_sets.emplace(id, LoadedGates{std::move(g), gates_fingerprint(dir)}).first->second;
    };

    // Every method's gates now, so that a missing folder fails before the first cell runs.
    for (const auto& s : cfg.settings) {
      const auto policy = core::parse_sparsity_policy(
          config::ConfigReader(cell_config(ctx.config, s, cfg.contexts.front()), "sparsity"));
      if (policy->needs_gate()) gates_of(s.gates.empty() ? cfg.gates : s.gates);
    }

    // Every cell in grid order (contexts outer, settings inner): its config, policy and the hash
    // its result.json must carry to be reused.
    struct Cell {
      int64_t context = 0;
      const SweepSetting* setting = nullptr;
      config::ConfigTree tree;
      std::unique_ptr<core::SparsityPolicy> policy;
      const LoadedGates* gates = nullptr;
      std::string gates_id;
      int64_t block = 0;
      std::string id;
      std::string hash;
    };
    std::vector<Cell> grid_cells;
    std::map<std::string, size_t> index_of;
    for (const int64_t context : cfg.contexts) {
      for (const auto& setting : cfg.settings) {
        Cell c;
        c.context = context;
        c.setting = &setting;
        c.tree = cell_config(ctx.config, setting, context);
        c.policy = core::parse_sparsity_policy(config::ConfigReader(c.tree, "sparsity"),
                                               policy_resources(ctx, context));
        // What the cell's result depends on beyond its config: its gates and thresholds.
        std::string depends = fmt::format("{}|{}|{}", cfg.max_tokens, cfg.chunk_size, block);
        c.gates_id = setting.gates.empty() ? cfg.gates : setting.gates;
        c.block = block;
        if (c.policy->needs_gate()) {
          c.gates = &gates_of(c.gates_id);
          c.block = c.gates->set.config.block_size;
          depends += "|gates " + c.gates->fingerprint;
        }
        if (c.gates) check_thresholds_fit_gates(c.tree, *c.policy, c.gates->fingerprint, c.gates_id);
        const std::string tau_id = thresholds_identity(*c.policy);
        if (!tau_id.empty()) depends += "|tau " + tau_id;
        c.id = cell_id(setting, context);
        c.hash = stable_hash(c.tree.to_yaml() + depends);
        index_of[c.id] = grid_cells.size();
        grid_cells.push_back(std::move(c));
      }
    }

    const auto& world = ctx.world;
    const fs::path cells_dir = ctx.stage_dir / "cells";
    std::vector<nlohmann::json> cell_results(grid_cells.size());
    std::optional<Progress> progress;
    int64_t done = 0;
    auto show = [&](const Cell& c, const nlohmann::json& result) {
      ctx.log.info("  {:<36} ctx {:>6}: ppl {:.4f}  sparsity {:.1f}%", c.setting->label, c.context,
                   result["ppl"].get<double>(), 100.0 * result["sparsity"].get<double>());
    };
    // Rank 0 reuses the complete cells and hands out the others (experiments/sharded_items.h).
    std::vector<std::string> pending;
    if (world.is_main()) {
      progress.emplace("sweep", static_cast<int64_t>(grid_cells.size()));
      for (size_t i = 0; i < grid_cells.size(); ++i) {
        const Cell& c = grid_cells[i];
        const fs::path file = cells_dir / c.id / "result.json";
        if (fs::exists(file) && load_json(file).value("hash", "") == c.hash) {
          cell_results[i] = load_json(file);
          ctx.log.file_only(fmt::format("{}: complete, reused", c.id));
          show(c, cell_results[i]);
          progress->update_reused(++done);
        } else {
          pending.push_back(c.id);
        }
      }
    }
    if (world.size() > 1)
      ctx.log.info("sweep: {} cells to run over {} processes (cell k of them on rank k % {})",
                   pending.size(), world.size(), world.size());
    at::NoGradGuard no_grad;
    run_sharded_items(
        world, ctx.stage_id + "/cells", pending,
        [&](const std::vector<std::string>& mine, const ItemDone& finished) {
          for (const auto& id : mine) {
            const Cell& c = grid_cells.at(index_of.at(id));
            nlohmann::json result = run_cell(ctx, model, tokens, *c.policy, *c.setting, c.context,
                                              c.block, c.gates ? &c.gates->set : nullptr,
                                              cfg.chunk_size, cfg.check_finite);
            if (c.gates) result["gates"] = c.gates_id;
            if (const auto* cal =
                    dynamic_cast<const core::CalibratedThresholdPolicy*>(c.policy.get()))
              result["calibration_sparsity"] = cal->table()->calibrated_sparsity;
            result["hash"] = c.hash;
            finished(id, std::move(result));
          }
        },
        [&](const std::string& id, nlohmann::json result) {
          const size_t i = index_of.at(id);
          const Cell& c = grid_cells[i];
          const fs::path dir = cells_dir / id;
          fs::create_directories(dir);
          io::write_file_atomic(dir / "config.yaml", c.tree.to_yaml());
          io::write_file_atomic(dir / "result.json", result.dump(2) + "\n");
          show(c, result);
          cell_results[i] = std::move(result);
          progress->update(++done, c.setting->label);
        });
    if (!world.is_main()) return;
    progress->finish();

    analysis::ResultsTable table;
    table.title = fmt::format("Perplexity ({}), measured sparsity in brackets", spec.name);
    nlohmann::json cells = nlohmann::json::array();
    std::vector<analysis::SweepPoint> points;
    for (size_t i = 0; i < grid_cells.size(); ++i) {
      const Cell& c = grid_cells[i];
      auto& cell = table.at(c.setting->label, std::to_string(c.context));
      cell.score = cell_results[i]["ppl"].get<double>();
      cell.sparsity = cell_results[i]["sparsity"].get<double>();
      points.push_back(analysis::SweepPoint{c.setting->method, c.setting->label, c.setting->gates,
                                            c.context, *cell.sparsity, *cell.score});
      cells.push_back(cell_results[i]);
    }
    const std::string md = table.to_markdown();
    io::write_file_atomic(ctx.stage_dir / "table.md", md);
    io::write_file_atomic(ctx.stage_dir / "table.csv", table.to_csv());
    nlohmann::json out = analysis::run_info(ctx.config);
    out["cells"] = cells;
    out["gates"] = cfg.gates;
    io::write_file_atomic(ctx.stage_dir / "results.json", out.dump(2) + "\n");
    ctx.log.info("\n{}", md);

    const auto equal = analysis::equal_sparsity_table(points, cfg.equal_sparsity);
    const std::string equal_md = equal.to_markdown(
        fmt::format("Perplexity ({}) at equal measured sparsity", spec.name));
    io::write_file_atomic(ctx.stage_dir / "equal_sparsity.md", equal_md);
    io::write_file_atomic(ctx.stage_dir / "equal_sparsity.csv", equal.to_csv());
    nlohmann::json equal_json = equal.to_json();
    equal_json["run"] = analysis::run_info(ctx.config);
    io::write_file_atomic(ctx.stage_dir / "equal_sparsity.json", equal_json.dump(2) + "\n");
    ctx.log.info("\n{}", equal_md);

    const std::string results = (ctx.stage_dir / "results.json").string();
    if (auto why = analysis::try_plot_script(
            "ppl_vs_sparsity.py", {results, (ctx.stage_dir / "ppl_vs_sparsity.png").string()})) {
      ctx.log.info("warning: no plot: {}", *why);
    }
    // Where the sparsity sits: per layer and head, every sparse setting at the longest context.
    const bool any_sparse = std::any_of(cells.begin(), cells.end(), [](const nlohmann::json& c) {
      return c["sparsity"].get<double>() > 0.0;
    });
    if (any_sparse) {
      if (auto why = analysis::try_plot_script(
              "sparsity_layers_heads.py",
              {results, (ctx.stage_dir / "sparsity_layers_heads.png").string()})) {
        ctx.log.info("warning: no per-layer sparsity plot: {}", *why);
      }
    }
  }

 private:
  nlohmann::json run_cell(StageContext& ctx, core::Decoder& model, const std::vector<int64_t>& tokens,
                          const core::SparsityPolicy& policy, const SweepSetting& setting,
                          int64_t context, int64_t block, const core::GateSet* gates,
                          int64_t chunk_size, bool check_finite) {
    core::GatedAttentionHook hook(policy.needs_gate() ? gates : nullptr, &policy, block);
    core::PerplexityOptions opts;
    opts.context = context;
    opts.chunk_size = chunk_size;
    opts.check_finite = check_finite;
    opts.label = fmt::format("sweep: cell '{}' at context {} (data.eval)", setting.label, context);
    const auto t0 = std::chrono::steady_clock::now();
    core::PerplexityResult res;
    {
      core::ScopedAttentionHook attached(model, &hook);
      res = core::perplexity(model, tokens, opts);
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    nlohmann::json j = setting_json(setting, policy.name(), block);
    j["context"] = context;
    j["ppl"] = res.ppl();
    j["nll_sum"] = res.nll_sum;
    j["tokens_scored"] = res.tokens;
    j["windows"] = res.windows;
    j["sparsity"] = hook.stats().overall();
    j["sparsity_detail"] = nlohmann::json::parse(hook.stats().to_json());
    j["seconds"] = secs;
    ctx.log.file_only(fmt::format("cell {} ctx {}: ppl {:.4f} sparsity {:.4f} in {:.1f}s",
                                  setting.label, context, res.ppl(), hook.stats().overall(), secs));
    return j;
  }
};

}  // namespace

std::unique_ptr<Stage> make_sweep_stage() { return std::make_unique<SweepStage>(); }

}  // namespace seer::experiments
