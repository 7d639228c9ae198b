// Stage eval_longbench: LongBench (data/longbench/, THUDM/LongBench pred.py + eval.py) under every
// sparsity setting of a grid (eval_longbench.methods, sweep's syntax). Each sample's prompt is
// built from the dataset's template, middle-truncated to longbench.max_length tokens, wrapped in
// eval_longbench.chat_template (except for the datasets pred.py leaves raw), prefilled under the
// setting's policy and decoded densely and greedily for the dataset's max_gen tokens, then scored
// with the official metric. Sparsity applies to the context, not the question: the query-block
// rows that hold any token after the context (the template's tail: question, answer cue) are
// computed densely, through the policy's dense_last_rows worked out per sample. Per cell under
// cells/<id>/: samples.jsonl (resumable sample by sample), config.yaml, result.json. For the stage:
// table.md / table.csv (methods x datasets + average, with the measured sparsity), table_e.md /
// table_e.csv (LongBench-E buckets 0-4k / 4-8k / 8k+ when longbench.e is true), results.json.
// Under several processes (`seer launch`) the samples of each cell still to run are shared out
// over the ranks (experiments/sharded_items.h); rank 0 writes them, as one process would.
//   seer run paper_longbench longbench.data_dir=/data/LongBench/data
#include "analysis/results_table.h"
#include "analysis/run_info.h"
#include "core/config/config_reader.h"
#include "core/io/atomic_file.h"
#include "core/model/model_spec.h"
#include "core/sparsity/sparsity_policy.h"
#include "data/longbench/longbench_config.h"
#include "data/longbench/longbench_dataset.h"
#include "data/metrics/longbench_scorer.h"
#include "experiments/eval_grid.h"
#include "experiments/progress.h"
#include "experiments/runner.h"
#include "experiments/sharded_items.h"
#include "experiments/sparse_generate.h"
#include "experiments/stage.h"
#include "experiments/stage_inputs.h"
#include "experiments/stages/stages.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>

namespace fs = std::filesystem;

namespace seer::experiments {
namespace {

struct LongBenchStageConfig {
  data::LongBenchSpec spec;
  EvalGridConfig grid;
  std::string chat_template = "{prompt}";   // `{prompt}` = the (truncated) LongBench prompt
  bool dense_question = true;               // rows after the context stay dense
};

LongBenchStageConfig parse_longbench_stage(const config::ConfigTree& tree) {
  LongBenchStageConfig c;
  {
    config::ConfigReader lb(tree, "longbench");
    const auto raw = lb.get_optional<std::string>("data_dir");
    if (!raw || raw->empty()) {
      lb.fail("data_dir", "not set: give the folder of LongBench's data/*.jsonl (THUDM/LongBench "
                          "release), as longbench.data_dir=/path or $SEER_LONGBENCH_DIR");
    }
  }
  c.spec = data::parse_longbench_spec(config::ConfigReader(tree, "longbench"));
  if (!fs::is_directory(c.spec.data_dir)) {
    config::ConfigReader(tree, "longbench")
        .fail("data_dir", fmt::format("'{}' is not a folder (expected LongBench's data/*.jsonl)",
                                      c.spec.data_dir));
  }
  for (const auto& d : c.spec.datasets) {
    const fs::path file = data::longbench_file(c.spec, d);
    if (!fs::exists(file)) {
      config::ConfigReader(tree, "longbench")
          .fail("datasets", fmt::format("'{}' has no file {} in longbench.data_dir", d,
                                        file.filename().string()));
    }
  }
  const auto model = core::parse_model_spec(config::ConfigReader(tree, "model"));
  if (model.max_context && c.spec.max_length >= *model.max_context) {
    config::ConfigReader(tree, "longbench")
        .fail("max_length", fmt::format("{} leaves no room to generate within model.max_context = {}",
                                        c.spec.max_length, *model.max_context));
  }
  config::ConfigReader r(tree, "eval_longbench");
  c.grid = parse_eval_grid(r, tree);
  c.chat_template = r.get<std::string>("chat_template", c.chat_template);
  if (c.chat_template.find("{prompt}") == std::string::npos) {
    r.fail("chat_template", "expected a string with a {prompt} placeholder");
  }
  c.dense_question = r.get<bool>("dense_question", c.dense_question);
  r.finish();
  return c;
}

std::string sample_identity(const config::ConfigTree& tree, const LongBenchStageConfig& cfg) {
  YAML::Node lb = YAML::Clone(tree.root()["longbench"]);
  for (const char* k : {"datasets", "max_samples"}) lb.remove(k);
  YAML::Emitter e;
  e << lb << tree.root()["model"];
  return fmt::format("{}|{}|{}", e.c_str(), cfg.chat_template, cfg.dense_question);
}

struct PreparedSample {
  data::LongBenchSample sample;
  std::vector<int64_t> prompt;    // model input ids
  int64_t tokens_before_truncation = 0;
  bool truncated = false;
  int64_t context_end = 0;        // first token after the context (the tail starts here)
};

class EvalLongBenchStage final : public Stage {
 public:
  std::string name() const override { return "eval_longbench"; }
  std::string summary() const override {
    return "LongBench under a grid of sparsity settings, question rows dense (table.md, "
           "samples.jsonl)";
  }
  // The gate-making sections too, so that retrained gates re-run this stage (cells whose
  // inputs did not change are reused from their result.json).
  std::vector<std::string> sections() const override {
    return {"model", "longbench", "eval_longbench", "data", "gate", "train", "capture", "distill"};
  }
  std::vector<std::string> unhashed_keys() const override { return {"eval_longbench.workers"}; }
  // The samples of each cell are shared out over the ranks of a multi-process run.
  bool data_parallel() const override { return true; }
  void validate(const config::ConfigTree& config) const override {
    core::parse_model_spec(config::ConfigReader(config, "model"));
    parse_longbench_stage(config);
  }
  // A prompt of max_length tokens must leave room for at least one generated token.
  std::vector<std::string> check_inputs(const config::ConfigTree& config) const override {
    std::vector<std::string> warnings;
    const ModelLimits model = check_model_inputs(config);
    const int64_t max_length = parse_longbench_stage(config).spec.max_length;
    check_length_fits(model, config::ConfigReader(config, "longbench"), "max_length",
                      max_length + 1, warnings,
                      fmt::format("a prompt of {} tokens and one generated", max_length));
    return warnings;
  }

  void run(StageContext& ctx) override {
    const auto cfg = parse_longbench_stage(ctx.config);
    EvalModel loaded = load_eval_model(ctx, cfg.grid, "eval_longbench");
    const core::ModelSpec& spec = loaded.spec;
    core::Decoder& model = loaded.model;
    const tokenizer::BpeTokenizer& bpe = loaded.tokenizer;
    const ModelTextTokenizer tok(bpe);
    const auto& gates = loaded.gates;
    const int64_t block = loaded.block;

    // Prompts do not depend on the setting: build them once.
    std::vector<data::LongBenchTask> tasks;
    std::vector<std::vector<PreparedSample>> prepared;
    int64_t total = 0;
    for (const auto& d : cfg.spec.datasets) {
      const auto name = d + (cfg.spec.longbench_e ? "_e" : "");
      tasks.push_back(data::load_longbench_task(cfg.spec.definitions_dir, name));
      auto samples = data::load_longbench_jsonl(data::longbench_file(cfg.spec, d), cfg.spec.max_samples);
      std::vector<PreparedSample> ps;
      for (auto& s : samples) ps.push_back(prepare(tasks.back(), std::move(s), tok, bpe, cfg));
      ctx.log.info("{}: {} samples, max_gen {}", name, ps.size(), tasks.back().max_gen);
      total += static_cast<int64_t>(ps.size());
      prepared.push_back(std::move(ps));
    }
    total *= static_cast<int64_t>(cfg.grid.settings.size());
    // One Decoder per worker: the copies share the weights; each has its own hook pointer.
    std::vector<core::Decoder> models(static_cast<size_t>(cfg.grid.workers), model);

    const std::string sample_base = sample_identity(ctx.config, cfg) + gates_identity(ctx, cfg.grid.gates);
    std::string dataset_list;
    for (const auto& d : cfg.spec.datasets) dataset_list += d + ",";
    analysis::ResultsTable table;
    table.title = fmt::format("LongBench{} ({}, window {}), measured prefill sparsity in brackets",
                              cfg.spec.longbench_e ? "-E" : "", spec.name, cfg.spec.max_length);
    table.score_name = "score";
    table.score_digits = 2;
    analysis::ResultsTable table_e = table;
    table_e.title = fmt::format("LongBench-E by length ({}), measured prefill sparsity in brackets",
                                spec.name);

    nlohmann::json cells = nlohmann::json::array();
    const auto& world = ctx.world;
    std::optional<Progress> progress;
    if (world.is_main()) progress.emplace("eval_longbench", total);
    if (world.size() > 1)
      ctx.log.info("eval_longbench: the samples of each cell still to run are shared out over {} "
                   "processes (sample k of them on rank k % {}); rank 0 writes them", world.size(),
                   world.size());
    int64_t done = 0;
    for (const auto& setting : cfg.grid.settings) {
      const auto tree = setting_config(ctx.config, setting);
      const auto base_policy = core::parse_sparsity_policy(config::ConfigReader(tree, "sparsity"));
      const std::string id = eval_cell_id(setting.label, fmt::format("win{}", cfg.spec.max_length));
      const fs::path dir = ctx.stage_dir / "cells" / id;
      YAML::Emitter sparsity_yaml;
      sparsity_yaml << setting.sparsity;
      const std::string sample_hash = stable_hash(fmt::format(
          "{}|{}|{}|{}|{}", sample_base, sparsity_yaml.c_str(), block, cfg.grid.chunk_size,
          cfg.grid.max_new_tokens));
      const std::string hash = stable_hash(fmt::format("{}|{}|{}", sample_hash, dataset_list,
                                                       cfg.spec.max_samples));
      nlohmann::json result;
      // The store's name for the cell's samples (experiments/sharded_items.h).
      const std::string shared_as = fmt::format("{}/{}", ctx.stage_id, id);
      if (world.is_main() && fs::exists(dir / "result.json") &&
          read_json_file(dir / "result.json").value("hash", "") == hash) {
        run_sharded_items(world, shared_as, {}, {}, {});   // nothing for the other ranks
        result = read_json_file(dir / "result.json");
        for (const auto& ps : prepared) done += static_cast<int64_t>(ps.size());
        progress->update(done, setting.label);
      } else {
        const auto t0 = std::chrono::steady_clock::now();
        std::optional<SampleLog> log;   // rank 0's
        if (world.is_main()) {
          log.emplace(dir, sample_hash);
          if (log->reused() > 0)
            ctx.log.info("{}: resuming, {} samples already done", id, log->reused());
        }
        nlohmann::json per_dataset = nlohmann::json::object();
        int64_t kept = 0, causal = 0;
        double sum = 0;
        // Every sample of the cell, dataset by dataset: one hand-out to the workers.
        std::vector<std::pair<size_t, size_t>> items;   // (dataset, sample)
        std::vector<std::string> keys;
        for (size_t di = 0; di < tasks.size(); ++di) {
          for (size_t i = 0; i < prepared[di].size(); ++i) {
            items.emplace_back(di, i);
            keys.push_back(fmt::format("{}/{}", tasks[di].dataset, i));
          }
        }
        std::vector<std::unique_ptr<core::SparsityPolicy>> policies;
        for (const auto& [di, i] : items) {
          policies.push_back(sample_policy(tree, *base_policy, block, cfg, prepared[di][i]));
        }
        const auto records = run_cell_samples(
            world, shared_as, log ? &*log : nullptr, keys, cfg.grid.workers, model.device(),
            [&](int64_t worker, size_t k) {
              const auto [di, i] = items[k];
              const core::SparsityPolicy& policy = policies[k] ? *policies[k] : *base_policy;
              nlohmann::json rec = run_sample(models[static_cast<size_t>(worker)], bpe, policy,
                                              gates ? &*gates : nullptr, block, cfg, tasks[di],
                                              prepared[di][i]);
              rec["index"] = static_cast<int64_t>(i);
              rec["method"] = setting.label;
              return rec;
            },
            [&](size_t k) {
              progress->update(++done, fmt::format("{} {}", setting.label, tasks[items[k].first].dataset));
            });
        if (!world.is_main()) continue;   // its share went to rank 0
        for (size_t di = 0, k = 0; di < tasks.size(); ++di) {
          const auto& task = tasks[di];
          std::vector<double> scores;
          std::vector<int64_t> lengths;
          int64_t d_kept = 0, d_causal = 0;
          for (size_t i = 0; i < prepared[di].size(); ++i, ++k) {
            const auto& rec = records[k];
            scores.push_back(rec["score"].get<double>());
            lengths.push_back(prepared[di][i].sample.length);
            d_kept += rec["kept_blocks"].get<int64_t>();
            d_causal += rec["causal_blocks"].get<int64_t>();
          }
          nlohmann::json d;
          d["score"] = data::longbench_dataset_score(scores);
          d["samples"] = static_cast<int64_t>(scores.size());
          d["sparsity"] = d_causal > 0 ? 1.0 - double(d_kept) / d_causal : 0.0;
          if (cfg.spec.longbench_e) {
            nlohmann::json buckets = nlohmann::json::object();
            for (const auto& [b, v] : data::longbench_e_scores(scores, lengths)) {
              buckets[b] = std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v);
            }
            d["buckets"] = buckets;
          }
          per_dataset[task.dataset] = d;
          sum += std::isnan(d["score"].get<double>()) ? 0.0 : d["score"].get<double>();
          kept += d_kept;
          causal += d_causal;
        }
        result.update(setting_json(setting, base_policy->name(), block));
        result["max_length"] = cfg.spec.max_length;
        result["datasets"] = per_dataset;
        result["average"] = sum / static_cast<double>(tasks.size());
        result["kept_blocks"] = kept;
        result["causal_blocks"] = causal;
        result["sparsity"] = causal > 0 ? 1.0 - double(kept) / causal : 0.0;
        result["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        result["hash"] = hash;
        io::write_file_atomic(dir / "config.yaml", tree.to_yaml());
        io::write_file_atomic(dir / "result.json", result.dump(2) + "\n");
      }
      for (const auto& task : tasks) {   // config order (JSON objects sort their keys)
        const std::string& name = task.dataset;
        if (!result["datasets"].contains(name)) continue;
        const auto& d = result["datasets"][name];
        auto& cell = table.at(setting.label, name);
        if (d["score"].is_number()) cell.score = d["score"].get<double>();
        cell.sparsity = d["sparsity"].get<double>();
        if (d.contains("buckets")) {
          for (const auto& [b, v] : d["buckets"].items()) {
            auto& ec = table_e.at(setting.label, name + " " + b);
            if (v.is_number()) ec.score = v.get<double>();
          }
        }
      }
      auto& avg = table.at(setting.label, "average");
      avg.score = result["average"].get<double>();
      avg.sparsity = result["sparsity"].get<double>();
      ctx.log.info("  {:<32}: average {:6.2f}  sparsity {:5.1f}%", setting.label, *avg.score,
                   100.0 * *avg.sparsity);
      cells.push_back(result);
    }
    if (!world.is_main()) return;
    progress->finish();
    const std::string md = table.to_markdown();
    io::write_file_atomic(ctx.stage_dir / "table.md", md);
    io::write_file_atomic(ctx.stage_dir / "table.csv", table.to_csv());
    if (cfg.spec.longbench_e) {
      io::write_file_atomic(ctx.stage_dir / "table_e.md", table_e.to_markdown());
      io::write_file_atomic(ctx.stage_dir / "table_e.csv", table_e.to_csv());
    }
    nlohmann::json out = analysis::run_info(ctx.config);
    out["benchmark"] = cfg.spec.longbench_e ? "longbench_e" : "longbench";
    out["model"] = spec.name;
    out["datasets"] = cfg.spec.datasets;
    out["cells"] = cells;
    io::write_file_atomic(ctx.stage_dir / "results.json", out.dump(2) + "\n");
    ctx.log.info("\n{}", md);
    if (cfg.spec.longbench_e) ctx.log.info("\n{}", table_e.to_markdown());
  }

 private:
  // Prompt, truncation and where the context ends. The tail is the template after `{context}`
  // (question and answer cue) plus the chat wrapper's closing part; its tokens are counted on
  // their own, so the boundary may be off by a token where BPE merges across it (the dense rows
  // are whole blocks, so this rarely changes which rows are dense).
  static PreparedSample prepare(const data::LongBenchTask& task, data::LongBenchSample sample,
                                const ModelTextTokenizer& tok, const tokenizer::BpeTokenizer& bpe,
                                const LongBenchStageConfig& cfg) {
    PreparedSample ps;
    const std::string prompt = data::format_longbench_prompt(task, sample);
    const auto cut = data::truncate_middle(tok, prompt, cfg.spec.max_length);
    const bool chat = data::longbench_uses_chat_template(task.dataset);
    const size_t at = cfg.chat_template.find("{prompt}");
    const std::string before = chat ? cfg.chat_template.substr(0, at) : "";
    const std::string after = chat ? cfg.chat_template.substr(at + 8) : "";
    ps.prompt = bpe.encode(before + cut.text + after);
    ps.tokens_before_truncation = cut.tokens;
    ps.truncated = cut.truncated;
    const size_t c = task.prompt_template.rfind("{context}");
    int64_t tail_tokens = static_cast<int64_t>(ps.prompt.size());   // no context: all dense
    if (c != std::string::npos) {
      data::LongBenchTask tail = task;
      tail.prompt_template = task.prompt_template.substr(c + 9);
      tail_tokens = tok.count(data::format_longbench_prompt(tail, sample) + after);
    }
    ps.context_end = std::max<int64_t>(0, static_cast<int64_t>(ps.prompt.size()) - tail_tokens);
    ps.sample = std::move(sample);
    return ps;
  }

  // The setting's policy with the question rows dense (null: the base policy already is), made
  // on the calling thread: the config tree is not read from the workers.
  static std::unique_ptr<core::SparsityPolicy> sample_policy(const config::ConfigTree& tree,
                                                             const core::SparsityPolicy& base_policy,
                                                             int64_t block,
                                                             const LongBenchStageConfig& cfg,
                                                             const PreparedSample& ps) {
    const int64_t dense_rows = sample_dense_rows(base_policy, block, cfg, ps);
    if (dense_rows == base_policy.options().dense_last_rows) return nullptr;
    config::ConfigTree t = tree.clone();
    t.root()["sparsity"]["dense_last_rows"] = dense_rows;
    return core::parse_sparsity_policy(config::ConfigReader(t, "sparsity"));
  }

  static int64_t sample_dense_rows(const core::SparsityPolicy& base_policy, int64_t block,
                                   const LongBenchStageConfig& cfg, const PreparedSample& ps) {
    const int64_t S = static_cast<int64_t>(ps.prompt.size());
    const int64_t nb = (S + block - 1) / block;
    // Query-block rows holding any token at or after context_end.
    const int64_t tail_rows = cfg.dense_question ? nb - ps.context_end / block : 0;
    return std::max(base_policy.options().dense_last_rows, tail_rows);
  }

  static nlohmann::json run_sample(core::Decoder& model, const tokenizer::BpeTokenizer& bpe,
                                   const core::SparsityPolicy& policy, const core::GateSet* gates,
                                   int64_t block, const LongBenchStageConfig& cfg,
                                   const data::LongBenchTask& task, const PreparedSample& ps) {
    const int64_t S = static_cast<int64_t>(ps.prompt.size());
    const int64_t dense_rows = policy.options().dense_last_rows;
    SparseGenerateOptions opts;
    opts.max_new_tokens = cfg.grid.max_new_tokens > 0 ? std::min(cfg.grid.max_new_tokens, task.max_gen)
                                                      : task.max_gen;
    opts.chunk_size = cfg.grid.chunk_size;
    opts.check_finite = cfg.grid.check_finite;
    std::string base = task.dataset;
    if (base.size() > 2 && base.substr(base.size() - 2) == "_e") base.resize(base.size() - 2);
    if (base == "samsum") {
      // pred.py stops samsum at a newline as well as at eos.
      opts.stop_ids = model.config().eos_token_ids;
      const auto nl = bpe.encode("\n", false);
      if (!nl.empty()) opts.stop_ids.push_back(nl.back());
    }
    opts.sample = fmt::format("eval_longbench: {} sample {}, policy {}", task.dataset,
                              ps.sample.id, policy.name());
    const auto gen = generate_sparse_prefill(model, ps.prompt, policy, gates, block, opts);
    const std::string prediction = bpe.decode(gen.tokens, true);
    const double score = data::longbench_sample_score(task.dataset, prediction, ps.sample.answers,
                                                      ps.sample.all_classes);
    return nlohmann::json{{"dataset", task.dataset},
                          {"id", ps.sample.id},
                          {"length", ps.sample.length},
                          {"prompt_tokens", S},
                          {"prompt_tokens_before_truncation", ps.tokens_before_truncation},
                          {"truncated", ps.truncated},
                          {"context_end_token", ps.context_end},
                          {"dense_last_rows", dense_rows},
                          {"generated_tokens", static_cast<int64_t>(gen.tokens.size())},
                          {"prediction", prediction},
                          {"answers", ps.sample.answers},
                          {"all_classes", ps.sample.all_classes},
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

std::unique_ptr<Stage> make_eval_longbench_stage() { return std::make_unique<EvalLongBenchStage>(); }

}  // namespace seer::experiments
