// Stage sweep: perplexity of the model under every sparsity setting of a grid (methods x their
// list-valued keys x context lengths), each cell with its own resolved config.yaml and result.json
// under cells/, resumable cell by cell. Writes table.md / table.csv laid out like the paper
// (methods as rows, context lengths as columns, measured sparsity beside each perplexity) and
// results.json with every cell, and two plots: perplexity vs sparsity, and the sparsity of every
// layer and head (sparsity_layers_heads.png). Gate policies use the gates of the stage `sweep.gates`.
//   seer run quickstart sweep.contexts=[1024,2048]
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
#include "experiments/progress.h"
#include "experiments/runner.h"
#include "experiments/stage.h"
#include "experiments/stages/stages.h"
#include "experiments/sweep_grid.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>

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
  c.settings = expand_sweep_methods(r);
  r.finish();
  // Each setting must be a valid sparsity section: check them all before anything runs.
  for (const auto& s : c.settings) {
    const auto cell = cell_config(tree, s, c.contexts.front());
    core::parse_sparsity_policy(config::ConfigReader(cell, "sparsity"));
  }
  return c;
}

nlohmann::json load_json(const fs::path& p) { return nlohmann::json::parse(io::read_file(p)); }

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

  void run(StageContext& ctx) override {
    const auto cfg = parse_sweep(ctx.config);
    const auto spec = core::parse_model_spec(config::ConfigReader(ctx.config, "model"));
    core::Decoder model = core::load_decoder(spec);
    const auto tok = core::load_tokenizer(spec);
    // Held-out text: the eval split, which shares no token with the train split (split_tokens).
    const auto tokens = split_tokens(ctx.config, "eval", tok, cfg.max_tokens);
    if (tokens.size() < 2) throw std::runtime_error("sweep: the data.eval split has < 2 tokens");
    ctx.log.info("sweep: {} settings x {} contexts over {} tokens of data.eval, {}",
                 cfg.settings.size(), cfg.contexts.size(), tokens.size(), spec.name);

    // The sweep's grid seen as an eval grid, so gates load (and are checked) the same way.
    EvalGridConfig grid;
    grid.gates = cfg.gates;
    grid.block_size = cfg.block_size;
    grid.settings = cfg.settings;
    int64_t block = 0;
    const std::optional<core::GateSet> gates = load_grid_gates(ctx, grid, "sweep", spec, &block);
    std::map<std::string, std::unique_ptr<core::SparsityPolicy>> policies;   // by setting label
    for (const auto& s : cfg.settings) {
      policies[s.label] =
          core::parse_sparsity_policy(config::ConfigReader(setting_config(ctx.config, s), "sparsity"));
    }

    analysis::ResultsTable table;
    table.title = fmt::format("Perplexity ({}), measured sparsity in brackets", spec.name);
    nlohmann::json cells = nlohmann::json::array();
    const fs::path cells_dir = ctx.stage_dir / "cells";
    const int64_t total = static_cast<int64_t>(cfg.settings.size() * cfg.contexts.size());
    Progress progress("sweep", total);
    int64_t done = 0;
    at::NoGradGuard no_grad;
    for (const int64_t context : cfg.contexts) {
      for (const auto& setting : cfg.settings) {
        const auto tree = cell_config(ctx.config, setting, context);
        const std::string id = cell_id(setting, context);
        const fs::path dir = cells_dir / id;
        const std::string hash = stable_hash(tree.to_yaml() + fmt::format("{}|{}|{}", cfg.max_tokens,
                                                                          cfg.chunk_size, block));
        nlohmann::json result;
        if (fs::exists(dir / "result.json") && load_json(dir / "result.json").value("hash", "") == hash) {
          result = load_json(dir / "result.json");
          ctx.log.file_only(fmt::format("{}: complete, reused", id));
        } else {
          result = run_cell(ctx, model, tokens, *policies.at(setting.label), setting, context,
                            block, gates ? &*gates : nullptr, cfg.chunk_size);
          result["hash"] = hash;
          fs::create_directories(dir);
          io::write_file_atomic(dir / "config.yaml", tree.to_yaml());
          io::write_file_atomic(dir / "result.json", result.dump(2) + "\n");
        }
        auto& cell = table.at(setting.label, std::to_string(context));
        cell.score = result["ppl"].get<double>();
        cell.sparsity = result["sparsity"].get<double>();
        ctx.log.info("  {:<36} ctx {:>6}: ppl {:.4f}  sparsity {:.1f}%", setting.label, context,
                     *cell.score, 100.0 * *cell.sparsity);
        cells.push_back(result);
        progress.update(++done, setting.label);
      }
    }
    progress.finish();
    const std::string md = table.to_markdown();
    io::write_file_atomic(ctx.stage_dir / "table.md", md);
    io::write_file_atomic(ctx.stage_dir / "table.csv", table.to_csv());
    nlohmann::json out = analysis::run_info(ctx.config);
    out["cells"] = cells;
    io::write_file_atomic(ctx.stage_dir / "results.json", out.dump(2) + "\n");
    ctx.log.info("\n{}", md);
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
                          int64_t chunk_size) {
    core::GatedAttentionHook hook(policy.needs_gate() ? gates : nullptr, &policy, block);
    core::PerplexityOptions opts;
    opts.context = context;
    opts.chunk_size = chunk_size;
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
