// Stage eval_ruler: RULER (data/ruler/) under every sparsity setting of a grid (eval_ruler.methods,
// sweep's syntax) x the lengths of ruler.lengths x the tasks of ruler.tasks. Each sample's prompt
// is prefilled under the setting's policy (sparse prefill), then decoded densely and greedily for
// the task's tokens_to_generate, and scored with RULER's metric. Per cell (setting x length) under
// cells/<id>/: samples.jsonl (one record per sample, appended as it finishes, so a killed run
// continues where it stopped; rewritten in task and sample order once the cell is done),
// summary.csv (RULER's layout), config.yaml and result.json (with every sample's score). Samples
// run on eval_ruler.workers threads side by side (experiments/parallel_samples.h); the records do
// not depend on how many. For the stage, with percentile bootstrap intervals over the samples of
// each task (analysis/score_intervals.h, eval_ruler.bootstrap): table.md / table.csv (methods x
// lengths: task average [95% CI] (sparsity), and the average over the tasks where dense scores
// above zero), tasks.md / tasks.csv (methods x tasks per length), vs_dense.md (each method minus
// dense, paired intervals), inputs/<length>/<task>.jsonl (the prompts) and results.json (every
// cell and interval, the resolved config, versions, git commit).
// Under several processes (`seer launch`) the samples of each cell still to run are shared out
// over the ranks (experiments/sharded_items.h); rank 0 writes them, as one process would.
//   seer run paper_ruler_smoke
//   seer run paper_ruler ruler.essay_path=/data/PaulGrahamEssays.json ruler.lengths=[4096]
#include "analysis/score_intervals.h"
#include "analysis/run_info.h"
#include "core/config/config_reader.h"
#include "core/io/atomic_file.h"
#include "core/model/model_spec.h"
#include "core/sparsity/sparsity_policy.h"
#include "data/data_error.h"
#include "data/metrics/ruler_metrics.h"
#include "data/ruler/ruler_config.h"
#include "data/ruler/ruler_summary.h"
#include "experiments/eval_grid.h"
#include "experiments/policy_resources.h"
#include "experiments/progress.h"
#include "experiments/runner.h"
#include "experiments/sharded_items.h"
#include "experiments/sparse_generate.h"
#include "experiments/stage.h"
#include "experiments/stage_inputs.h"
#include "experiments/stages/stages.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>

namespace fs = std::filesystem;

namespace seer::experiments {
namespace {

// Bumped when result.json gains what the stage's tables read, so older cells are re-aggregated
// from their samples.jsonl (no sample runs again).
constexpr int kResultFormat = 2;

struct RulerStageConfig {
  data::RulerSpec spec;
  EvalGridConfig grid;
  analysis::BootstrapOptions bootstrap;
  std::string reference;   // the method the differences and the "above zero" tasks refer to
};

//   bootstrap: {resamples: 2000, seed: 0, level: 0.95, reference: dense}
analysis::BootstrapOptions parse_bootstrap(const config::ConfigReader& r, std::string* reference) {
  analysis::BootstrapOptions o;
  o.resamples = r.get<int64_t>("resamples", o.resamples);
  if (o.resamples < 100 || o.resamples > 1000000) r.fail("resamples", "expected 100 .. 1000000");
  const int64_t seed = r.get<int64_t>("seed", 0);
  if (seed < 0) r.fail("seed", "expected >= 0");
  o.seed = static_cast<uint64_t>(seed);
  o.level = r.get<double>("level", o.level);
  if (!(o.level >= 0.5 && o.level < 1.0)) r.fail("level", "expected in [0.5, 1) (0.95 = 95%)");
  *reference = r.get<std::string>("reference", "dense");
  r.finish();
  return o;
}

RulerStageConfig parse_ruler_stage(const config::ConfigTree& tree) {
  RulerStageConfig c;
  c.spec = data::parse_ruler_spec(config::ConfigReader(tree, "ruler"));
  config::ConfigReader r(tree, "eval_ruler");
  c.grid = parse_eval_grid(r, tree);
  c.reference = "dense";
  if (r.has("bootstrap")) {
    const config::ConfigReader b = r.child("bootstrap");
    c.bootstrap = parse_bootstrap(b, &c.reference);
    // The default may be absent (a grid without dense prints no differences); a name given
    // explicitly must be one of the grid's rows.
    const bool named = std::any_of(c.grid.settings.begin(), c.grid.settings.end(),
                                   [&](const SweepSetting& s) { return s.label == c.reference; });
    if (b.has("reference") && !named) {
      b.fail("reference", fmt::format("'{}' is not a method of eval_ruler.methods (a row label, "
                                      "e.g. dense)", c.reference));
    }
  }
  r.finish();
  const auto model = core::parse_model_spec(config::ConfigReader(tree, "model"));
  for (const int64_t length : c.spec.lengths) {
    if (model.max_context && length > *model.max_context) {
      config::ConfigReader(tree, "ruler").fail(
          "lengths", fmt::format("{} is longer than model.max_context = {}", length,
                                 *model.max_context));
    }
  }
  // A path that is set must exist: a typo would otherwise silently skip the essay tasks.
  const std::pair<const char*, std::string> paths[] = {
      {"essay_path", c.spec.resources.essay_path},
      {"squad_path", c.spec.resources.squad_path},
      {"hotpotqa_path", c.spec.resources.hotpotqa_path}};
  for (const auto& [key, path] : paths) {
    if (!path.empty() && !fs::exists(path)) {
      config::ConfigReader(tree, "ruler").fail(key, fmt::format("'{}' does not exist (leave it "
                                                               "empty to skip the tasks needing it)",
                                                               path));
    }
  }
  return c;
}

// The `ruler` section without the keys that only choose which samples run (tasks, lengths,
// num_samples): a sample record stays valid when those change.
std::string sample_identity(const config::ConfigTree& tree) {
  YAML::Node ruler = YAML::Clone(tree.root()["ruler"]);
  for (const char* k : {"tasks", "lengths", "num_samples"}) ruler.remove(k);
  YAML::Emitter e;
  e << ruler << tree.root()["model"];
  return e.c_str();
}

class EvalRulerStage final : public Stage {
 public:
  std::string name() const override { return "eval_ruler"; }
  std::string summary() const override {
    return "RULER under a grid of sparsity settings x lengths x tasks (table.md, summary.csv, "
           "samples.jsonl)";
  }
  // The gate-making sections too, so that retrained gates re-run this stage (cells whose
  // inputs did not change are reused from their result.json).
  std::vector<std::string> sections() const override {
    return {"model", "ruler", "eval_ruler", "data", "gate", "train", "capture", "distill"};
  }
  // The records do not depend on the worker count (tests/eval/eval_stages_test.cpp checks it).
  std::vector<std::string> unhashed_keys() const override { return {"eval_ruler.workers"}; }
  // The samples of each cell are shared out over the ranks of a multi-process run.
  bool data_parallel() const override { return true; }
  void validate(const config::ConfigTree& config) const override {
    core::parse_model_spec(config::ConfigReader(config, "model"));
    parse_ruler_stage(config);
  }
  // A RULER length is the whole sample: the prompt and the answer generated after it.
  std::vector<std::string> check_inputs(const config::ConfigTree& config) const override {
    std::vector<std::string> warnings;
    const ModelLimits model = check_model_inputs(config);
    const config::ConfigReader ruler(config, "ruler");
    for (const int64_t length : parse_ruler_stage(config).spec.lengths)
      check_length_fits(model, ruler, "lengths", length, warnings);
    return warnings;
  }

  void run(StageContext& ctx) override {
    const auto cfg = parse_ruler_stage(ctx.config);
    EvalModel loaded = load_eval_model(ctx, cfg.grid, "eval_ruler");
    const core::ModelSpec& spec = loaded.spec;
    core::Decoder& model = loaded.model;
    const tokenizer::BpeTokenizer& bpe = loaded.tokenizer;
    const ModelTextTokenizer tok(bpe);
    const auto& gates = loaded.gates;
    const int64_t block = loaded.block;

    data::RulerGenerator generator(data::load_ruler_definitions(cfg.spec.tasks_yaml),
                                   data::load_ruler_words(cfg.spec.words_dir), cfg.spec.resources,
                                   tok, cfg.spec.chat_wrapper);
    std::vector<std::string> tasks = cfg.spec.tasks;
    if (tasks.empty()) {
      for (const auto& t : generator.definitions().tasks) tasks.push_back(t.name);
    }
    std::vector<std::string> runnable;
    nlohmann::json skipped = nlohmann::json::object();
    for (const auto& t : tasks) {
      if (const auto why = generator.unavailable_reason(t)) {
        ctx.log.info("skipping {}: {}", t, *why);
        skipped[t] = *why;
      } else {
        runnable.push_back(t);
      }
    }
    if (runnable.empty()) {
      throw std::runtime_error("eval_ruler: none of the tasks can run here (see the skipping "
                               "lines above)");
    }
    ctx.log.info("eval_ruler: {} settings x {} lengths x {} tasks x {} samples, block {}",
                 cfg.grid.settings.size(), cfg.spec.lengths.size(), runnable.size(),
                 cfg.spec.num_samples, block);

    // Samples depend on (length, task) only: generate once, lazily (a finished cell needs none).
    std::map<std::pair<int64_t, std::string>, std::vector<data::RulerSample>> sample_cache;
    auto samples_of = [&](int64_t length, const std::string& task) -> const auto& {
      auto key = std::make_pair(length, task);
      auto it = sample_cache.find(key);
      if (it != sample_cache.end()) return it->second;
      std::vector<data::RulerSample> samples;
      try {
        samples = generator.generate(task, length, cfg.spec.num_samples, cfg.spec.seed);
      } catch (const data::DataError& e) {
        // e.g. a length shorter than the task's smallest instance: skip this task here only.
        ctx.log.info("skipping {} at length {}: {}", task, length, e.what());
        skipped[fmt::format("{}@{}", task, length)] = e.what();
        return sample_cache.emplace(key, std::move(samples)).first->second;
      }
      // The prompts are written by rank 0 alone (the run folder is rank 0's).
      if (!ctx.world.is_main()) return sample_cache.emplace(key, std::move(samples)).first->second;
      std::string lines;
      for (const auto& s : samples) {
        lines += nlohmann::json{{"task", s.task}, {"index", s.index}, {"input", s.input},
                                {"outputs", s.outputs}, {"length", s.length}}.dump() + "\n";
      }
      const fs::path inputs = ctx.stage_dir / "inputs" / std::to_string(length);
      fs::create_directories(inputs);
      io::write_file_atomic(inputs / (task + ".jsonl"), lines);
      return sample_cache.emplace(key, std::move(samples)).first->second;
    };

    const std::string sample_base = sample_identity(ctx.config) + gates_identity(ctx, cfg.grid.gates);
    const std::string gates_print = gates ? gates_fingerprint(ctx.gates_path(cfg.grid.gates)) : "";
    std::string task_list;
    for (const auto& t : runnable) task_list += t + ",";
    // One Decoder per worker: the copies share the weights; each has its own hook pointer.
    std::vector<core::Decoder> models(static_cast<size_t>(cfg.grid.workers), model);
    if (cfg.grid.workers > 1) ctx.log.info("eval_ruler: {} workers", cfg.grid.workers);

    std::vector<analysis::ScoredCell> scored;
    nlohmann::json cells = nlohmann::json::array();
    const int64_t total = static_cast<int64_t>(cfg.grid.settings.size() * cfg.spec.lengths.size() *
                                               runnable.size()) * cfg.spec.num_samples;
    const auto& world = ctx.world;
    std::optional<Progress> progress;
    if (world.is_main()) progress.emplace("eval_ruler", total);
    if (world.size() > 1)
      ctx.log.info("eval_ruler: the samples of each cell still to run are shared out over {} "
                   "processes (sample k of them on rank k % {}); rank 0 writes them", world.size(),
                   world.size());
    int64_t done = 0;
    for (const int64_t length : cfg.spec.lengths) {
      for (const auto& setting : cfg.grid.settings) {
        const auto tree = setting_config(ctx.config, setting);
        // A calibrated policy reads the thresholds of its length's context.
        const auto policy = core::parse_sparsity_policy(config::ConfigReader(tree, "sparsity"),
                                                        policy_resources(ctx, length));
        if (gates) check_thresholds_fit_gates(tree, *policy, gates_print, cfg.grid.gates);
        const std::string id = eval_cell_id(setting.label, fmt::format("len{}", length));
        const fs::path dir = ctx.stage_dir / "cells" / id;
        YAML::Emitter sparsity_yaml;
        sparsity_yaml << setting.sparsity;
        const std::string sample_hash = stable_hash(fmt::format(
            "{}|{}|{}|{}|{}|{}|{}", sample_base, sparsity_yaml.c_str(), length, block,
            cfg.grid.chunk_size, cfg.grid.max_new_tokens, thresholds_identity(*policy)));
        const std::string hash = stable_hash(fmt::format("{}|{}|{}|{}", sample_hash, task_list,
                                                         cfg.spec.num_samples, kResultFormat));

        nlohmann::json result;
        // The store's name for the cell's samples (experiments/sharded_items.h).
        const std::string shared_as = fmt::format("{}/{}", ctx.stage_id, id);
        if (world.is_main() && fs::exists(dir / "result.json") &&
            read_json_file(dir / "result.json").value("hash", "") == hash) {
          run_sharded_items(world, shared_as, {}, {}, {});   // nothing for the other ranks
          result = read_json_file(dir / "result.json");
          done += static_cast<int64_t>(runnable.size()) * cfg.spec.num_samples;
          progress->update(done, setting.label);
          ctx.log.file_only(fmt::format("{}: complete, reused", id));
        } else {
          result = run_cell(ctx, cfg, models, bpe, *policy, gates ? &*gates : nullptr, block,
                            setting, length, runnable, samples_of, dir, sample_hash, shared_as,
                            progress ? &*progress : nullptr, done);
          if (!world.is_main()) continue;   // its share went to rank 0
          result.update(setting_json(setting, policy->name(), block));
          result["hash"] = hash;
          io::write_file_atomic(dir / "config.yaml", tree.to_yaml());
          io::write_file_atomic(dir / "result.json", result.dump(2) + "\n");
        }
        scored.push_back(scored_cell(result, setting.label, length, runnable));
        ctx.log.info("  {:<32} len {:>6}: average {:>6}  sparsity {:5.1f}%", setting.label, length,
                     result["average"].is_number() ? fmt::format("{:.2f}", result["average"].get<double>())
                                                   : std::string("-"),
                     100.0 * result["sparsity"].get<double>());
        cells.push_back(result);
      }
    }
    if (!world.is_main()) return;
    progress->finish();
    const auto report = analysis::interval_report(
        scored, cfg.reference, fmt::format("RULER ({}, {} tasks)", spec.name, runnable.size()),
        "length", cfg.bootstrap);
    io::write_file_atomic(ctx.stage_dir / "table.md", report.table_md);
    io::write_file_atomic(ctx.stage_dir / "table.csv", report.table_csv);
    io::write_file_atomic(ctx.stage_dir / "tasks.md", report.tasks_md);
    io::write_file_atomic(ctx.stage_dir / "tasks.csv", report.tasks_csv);
    io::write_file_atomic(ctx.stage_dir / "vs_dense.md", report.vs_reference_md);
    // RULER's own summary.csv per length, one folder per method (the layout RULER's users read).
    for (const auto& c : cells) {
      std::vector<data::RulerTaskScore> scores;
      for (const auto& task : runnable) {
        if (!c["tasks"].contains(task)) continue;
        const auto& t = c["tasks"][task];
        scores.push_back({task, t["score"].get<double>(), t["nulls"].get<int64_t>(),
                          t["total"].get<int64_t>()});
      }
      const fs::path d = ctx.stage_dir / "summary" / eval_cell_id(c["label"].get<std::string>(), "") /
                         std::to_string(c["length"].get<int64_t>());
      fs::create_directories(d);
      data::write_ruler_summary(d / "summary.csv", scores);
    }
    nlohmann::json out = analysis::run_info(ctx.config);
    out["benchmark"] = "ruler";
    out["model"] = spec.name;
    out["tasks"] = runnable;
    out["skipped_tasks"] = skipped;
    out["cells"] = cells;
    out["intervals"] = report.json;
    io::write_file_atomic(ctx.stage_dir / "results.json", out.dump(2) + "\n");
    ctx.log.info("\n{}\n{}\n{}", report.table_md, report.vs_reference_md, report.tasks_md);
  }

 private:
  using SamplesOf = std::function<const std::vector<data::RulerSample>&(int64_t, const std::string&)>;

  // Runs (or resumes) one cell: every task's samples on the workers, then RULER's scores per task.
  static nlohmann::json run_cell(StageContext& ctx, const RulerStageConfig& cfg,
                                 std::vector<core::Decoder>& models,
                                 const tokenizer::BpeTokenizer& bpe,
                                 const core::SparsityPolicy& policy, const core::GateSet* gates,
                                 int64_t block, const SweepSetting& setting, int64_t length,
                                 const std::vector<std::string>& runnable,
                                 const SamplesOf& samples_of, const fs::path& dir,
                                 const std::string& sample_hash, const std::string& shared_as,
                                 Progress* progress, int64_t& done) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::string id = dir.filename().string();
    const bool main = ctx.world.is_main();
    std::optional<SampleLog> log;   // rank 0's
    if (main) {
      log.emplace(dir, sample_hash);
      if (log->reused() > 0) ctx.log.info("{}: resuming, {} samples already done", id, log->reused());
    }
    // Every sample of the cell in task (config) and sample order: one hand-out to the workers, so
    // a task with few samples does not leave them idle.
    std::vector<const data::RulerSample*> items;
    std::vector<std::string> keys;
    for (const auto& task : runnable) {
      const auto& samples = samples_of(length, task);
      if (samples.empty()) done += cfg.spec.num_samples;
      for (const auto& s : samples) {
        items.push_back(&s);
        keys.push_back(fmt::format("{}/{}", task, s.index));
      }
    }
    const auto records = run_cell_samples(
        ctx.world, shared_as, main ? &*log : nullptr, keys, cfg.grid.workers,
        models.front().device(),
        [&](int64_t worker, size_t i) {
          nlohmann::json rec = run_sample(models[static_cast<size_t>(worker)], bpe, policy, gates,
                                          block, cfg.grid, *items[i]);
          rec["method"] = setting.label;
          return rec;
        },
        [&](size_t i) {
          progress->update(++done, fmt::format("{} len {} {}", setting.label, length, items[i]->task));
        });
    if (!main) return nullptr;

    nlohmann::json per_task = nlohmann::json::object();
    nlohmann::json sample_scores = nlohmann::json::object();
    std::vector<data::RulerTaskScore> scores;
    int64_t kept = 0, causal = 0;
    for (const auto& task : runnable) {
      std::vector<std::string> preds;
      std::vector<std::vector<std::string>> refs;
      std::vector<double> task_scores;
      std::string metric = "string_match_all";
      int64_t task_kept = 0, task_causal = 0;
      for (size_t i = 0; i < items.size(); ++i) {
        if (items[i]->task != task) continue;
        const auto& rec = records[i];
        preds.push_back(rec["prediction"].get<std::string>());
        refs.push_back(items[i]->outputs);
        task_scores.push_back(rec["score"].get<double>());
        metric = items[i]->metric;
        task_kept += rec["kept_blocks"].get<int64_t>();
        task_causal += rec["causal_blocks"].get<int64_t>();
      }
      if (preds.empty()) continue;   // skipped at this length
      scores.push_back(data::score_ruler_task(task, metric, preds, refs));
      kept += task_kept;
      causal += task_causal;
      per_task[task] = {{"score", scores.back().score},
                        {"nulls", scores.back().nulls},
                        {"total", scores.back().total},
                        {"sparsity", task_causal > 0 ? 1.0 - double(task_kept) / task_causal : 0.0}};
      sample_scores[task] = task_scores;
    }
    double avg = 0;
    for (const auto& s : scores) avg += s.score;
    data::write_ruler_summary(dir / "summary.csv", scores);
    nlohmann::json result;
    result["length"] = length;
    result["num_samples"] = cfg.spec.num_samples;
    result["tasks"] = per_task;
    result["sample_scores"] = sample_scores;   // per task, in sample order, 0..1 as RULER scores a sample
    result["average"] = scores.empty() ? nlohmann::json(nullptr)
                                       : nlohmann::json(avg / static_cast<double>(scores.size()));
    result["kept_blocks"] = kept;
    result["causal_blocks"] = causal;
    result["sparsity"] = causal > 0 ? 1.0 - double(kept) / causal : 0.0;
    result["workers"] = cfg.grid.workers;
    result["seconds"] =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return result;
  }

  // A cell's per-sample scores on the table's scale (RULER's 0..100), tasks in config order.
  static analysis::ScoredCell scored_cell(const nlohmann::json& result, const std::string& label,
                                          int64_t length, const std::vector<std::string>& runnable) {
    analysis::ScoredCell c;
    c.method = label;
    c.column = std::to_string(length);
    c.sparsity = result["sparsity"].get<double>();
    for (const auto& task : runnable) {
      if (!result["tasks"].contains(task)) continue;
      c.tasks.push_back(task);
      std::vector<double> v;
      for (const auto& x : result["sample_scores"][task]) v.push_back(100.0 * x.get<double>());
      c.scores.push_back(std::move(v));
      c.task_sparsity.push_back(result["tasks"][task]["sparsity"].get<double>());
    }
    return c;
  }
  static nlohmann::json run_sample(core::Decoder& model, const tokenizer::BpeTokenizer& bpe,
                                   const core::SparsityPolicy& policy, const core::GateSet* gates,
                                   int64_t block, const EvalGridConfig& grid,
                                   const data::RulerSample& s) {
    const std::vector<int64_t> prompt = bpe.encode(s.input);
    SparseGenerateOptions opts;
    opts.max_new_tokens = grid.max_new_tokens > 0
                              ? std::min(grid.max_new_tokens, s.tokens_to_generate)
                              : s.tokens_to_generate;
    opts.chunk_size = grid.chunk_size;
    opts.check_finite = grid.check_finite;
    opts.sample = fmt::format("eval_ruler: {} sample {} at {} tokens, policy {}", s.task, s.index,
                              s.max_seq_length, policy.name());
    const auto gen = generate_sparse_prefill(model, prompt, policy, gates, block, opts);
    const std::string prediction = bpe.decode(gen.tokens, true);
    const std::string post = data::ruler_postprocess(prediction);
    const double score = s.metric == "string_match_part"
                             ? data::ruler_match_part_sample(post, s.outputs)
                             : data::ruler_match_all_sample(post, s.outputs);
    return nlohmann::json{{"task", s.task},
                          {"index", s.index},
                          {"length", s.max_seq_length},
                          {"prompt_tokens", static_cast<int64_t>(prompt.size())},
                          {"generated_tokens", static_cast<int64_t>(gen.tokens.size())},
                          {"prediction", prediction},
                          {"references", s.outputs},
                          {"metric", s.metric},
                          {"score", score},
                          {"sparsity", gen.sparsity},
                          {"layer_sparsity", gen.layer_sparsity},
                          {"kept_blocks", gen.kept_blocks},
                          {"causal_blocks", gen.causal_blocks},
                          {"prefill_seconds", gen.prefill_seconds},
                          {"seconds", gen.seconds}};
  }
};

}  // namespace

std::unique_ptr<Stage> make_eval_ruler_stage() { return std::make_unique<EvalRulerStage>(); }

}  // namespace seer::experiments
