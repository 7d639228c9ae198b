// Stage calibrate: runs the frozen model (dense) with the trained gates over calibration text at
// each context length, gathers every layer's gate scores P and true block map G, and finds the
// thresholds that make the measured sparsity (1 - kept / causal blocks, the policy's diagonal,
// sink and dense-last-rows rules applied) hit each target: per (layer, head), per layer or one
// global threshold, on P (gate) and on G (oracle). Writes thresholds.json (read by the
// calibrated_threshold policy, core/sparsity/threshold_file.h) and calibration.md: per target the
// sparsity reached and the mean share of G's row mass each calibrated mask keeps, the gate's
// beside the oracle's. Resumable per context (context_<n>.json, keyed by a hash of what made it).
//   seer run paper_ppl_smoke calibrate.targets=[0.8,0.9]
//
// Memory: three float32 per causal, unforced block per head and layer: at 8k (128 blocks, 9
// heads, 30 layers) about 26 MB per window.
#include "analysis/run_info.h"
#include "core/config/config_error.h"
#include "core/config/config_reader.h"
#include "core/gate/gate_file.h"
#include "core/gate/gated_attention_hook.h"
#include "core/io/atomic_file.h"
#include "core/model/decoder.h"
#include "core/model/model_spec.h"
#include "core/sparsity/threshold_calibration.h"
#include "core/sparsity/threshold_file.h"
#include "experiments/corpus_tokens.h"
#include "experiments/data_splits.h"
#include "experiments/gate_folders.h"
#include "experiments/policy_resources.h"
#include "experiments/progress.h"
#include "experiments/runner.h"
#include "experiments/stage.h"
#include "experiments/stage_inputs.h"
#include "experiments/stages/stages.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

namespace fs = std::filesystem;

namespace seer::experiments {
namespace {

struct CalibrateConfig {
  std::string gates;                       // stage id or folder; "" = oracle only
  std::vector<int64_t> contexts;
  int64_t windows = 4;                     // windows of each context
  int64_t chunk_size = 2048;               // prefill chunk, as the sweep's (0 = one forward)
  int64_t block_size = 64;                 // without gates; gates bring their own
  std::vector<double> targets;
  std::vector<core::Granularity> granularities;
  std::vector<core::CalibrationSource> sources;
  core::MaskOptions rules;
};

CalibrateConfig parse_calibrate(const config::ConfigReader& r) {
  CalibrateConfig c;
  c.gates = r.get<std::string>("gates", "");
  c.contexts = r.get<std::vector<int64_t>>("contexts");
  if (c.contexts.empty()) r.fail("contexts", "expected at least one context length");
  for (auto ctx : c.contexts)
    if (ctx < 2) r.fail("contexts", "every context must be >= 2");
  if (std::set<int64_t>(c.contexts.begin(), c.contexts.end()).size() != c.contexts.size())
    r.fail("contexts", "a context is listed twice");
  c.windows = r.get<int64_t>("windows", c.windows);
  if (c.windows < 1) r.fail("windows", "expected >= 1");
  c.block_size = core::read_block_size(r, "block_size", c.block_size);
  c.chunk_size = r.get<int64_t>("chunk_size", c.chunk_size);
  if (c.chunk_size < 0) r.fail("chunk_size", "expected >= 0 (0 = each window in one forward)");
  c.targets = r.get<std::vector<double>>("targets");
  if (c.targets.empty()) r.fail("targets", "expected at least one target sparsity");
  for (double t : c.targets)
    if (!(t > 0.0 && t < 1.0)) r.fail("targets", fmt::format("{} is not a sparsity in (0, 1)", t));
  if (std::set<double>(c.targets.begin(), c.targets.end()).size() != c.targets.size())
    r.fail("targets", "a target is listed twice");
  const auto grans = r.get<std::vector<std::string>>("granularity");
  if (grans.empty())
    r.fail("granularity", "expected a list of head | layer | global | head_oracle | head_mass");
  for (const auto& g : grans) {
    try {
      c.granularities.push_back(core::parse_granularity(g));
    } catch (const std::invalid_argument& e) {
      r.fail("granularity", e.what());
    }
  }
  const auto sources = r.get<std::vector<std::string>>("sources");
  if (sources.empty()) r.fail("sources", "expected a list of gate | oracle");
  for (const auto& s : sources) {
    if (s == "gate") c.sources.push_back(core::CalibrationSource::kGate);
    else if (s == "oracle") c.sources.push_back(core::CalibrationSource::kOracle);
    else r.fail("sources", fmt::format("'{}': expected gate | oracle", s));
  }
  const bool gate =
      std::count(c.sources.begin(), c.sources.end(), core::CalibrationSource::kGate) > 0;
  if (gate && c.gates.empty())
    r.fail("gates", "the gate source needs gates: a distill stage id of this run or a folder");
  c.rules.keep_sink = r.get<bool>("keep_sink", false);
  c.rules.dense_last_rows = r.get<int64_t>("dense_last_rows", 0);
  if (c.rules.dense_last_rows < 0) r.fail("dense_last_rows", "expected >= 0");
  r.finish();
  return c;
}

// The calibration text: the `calib` split, which shares no token with the gates' training text
// (train) or the sweep's held-out text (eval).
std::vector<int64_t> calibration_tokens(const config::ConfigTree& config,
                                        const tokenizer::BpeTokenizer& tok, int64_t max_tokens) {
  auto tokens = split_tokens(config, "calib", tok, max_tokens);
  if (tokens.empty()) throw std::runtime_error("calibrate: the data.calib split has no tokens");
  return tokens;
}

nlohmann::json read_json(const fs::path& p) { return nlohmann::json::parse(io::read_file(p)); }

// Markdown: per context, per granularity and target, the sparsity reached and the G mass kept.
std::string calibration_markdown(const nlohmann::json& contexts) {
  std::string md = "### Calibrated thresholds: sparsity reached on the calibration text and mean "
                   "share of G's row mass kept\n\n";
  for (const auto& [ctx, c] : contexts.items()) {
    md += fmt::format("context {} ({} windows); the forced blocks alone give {:.1f}% sparsity\n\n",
                      ctx, c.at("windows").get<int64_t>(),
                      100.0 * c.at("forced_only_sparsity").get<double>());
    md += "| granularity | target | gate sparsity | gate G mass | oracle sparsity | oracle G mass |\n"
          "|---|---|---|---|---|---|\n";
    std::map<std::pair<std::string, double>, std::map<std::string, const nlohmann::json*>> rows;
    std::vector<std::pair<std::string, double>> order;
    for (const auto& p : c.at("points")) {
      const auto key = std::make_pair(p.at("granularity").get<std::string>(),
                                      p.at("target").get<double>());
      if (!rows.count(key)) order.push_back(key);
      rows[key][p.at("source").get<std::string>()] = &p;
    }
    for (const auto& key : order) {
      md += fmt::format("| {} | {:.0f}% |", key.first, 100.0 * key.second);
      for (const char* src : {"gate", "oracle"}) {
        auto it = rows[key].find(src);
        if (it == rows[key].end()) {
          md += " - | - |";
        } else {
          md += fmt::format(" {:.2f}% | {:.4f} |", 100.0 * it->second->at("achieved").get<double>(),
                            it->second->at("g_mass_kept").get<double>());
        }
      }
      md += "\n";
    }
    md += "\n";
  }
  return md;
}

class CalibrateStage final : public Stage {
 public:
  std::string name() const override { return "calibrate"; }
  std::string summary() const override {
    return "thresholds that hit target sparsities on calibration text (thresholds.json)";
  }
  std::vector<std::string> sections() const override { return {"model", "data", "calibrate"}; }
  void validate(const config::ConfigTree& config) const override {
    core::parse_model_spec(config::ConfigReader(config, "model"));
    validate_data_splits(config, "calib");
    parse_calibrate(config::ConfigReader(config, "calibrate"));
  }
  std::vector<std::string> check_inputs(const config::ConfigTree& config) const override {
    std::vector<std::string> warnings;
    const ModelLimits model = check_model_inputs(config);
    check_data_split_files(config);
    const config::ConfigReader calibrate(config, "calibrate");
    for (const int64_t context : parse_calibrate(calibrate).contexts)
      check_length_fits(model, calibrate, "contexts", context, warnings);
    return warnings;
  }

  void run(StageContext& ctx) override {
    const auto cfg = parse_calibrate(config::ConfigReader(ctx.config, "calibrate"));
    const auto spec = core::parse_model_spec(config::ConfigReader(ctx.config, "model"));
    ctx.log.info("loading {} ({}, {})", spec.path, spec.format, spec.dtype);
    core::Decoder model = core::load_decoder(spec);
    const auto tok = core::load_tokenizer(spec);
    const bool want_gate = std::count(cfg.sources.begin(), cfg.sources.end(),
                                      core::CalibrationSource::kGate) > 0;
    std::optional<core::GateSet> gates;
    std::string fingerprint;
    int64_t block = cfg.block_size;
    if (want_gate) {
      const fs::path dir = ctx.gates_path(cfg.gates);
      ctx.log.info("gates from {}", dir.string());
      gates = load_gates_for_model(dir, spec);
      gates->to(core::model_device(spec), at::kFloat);
      block = gates->config.block_size;
      fingerprint = gates_fingerprint(dir);
    }
    const int64_t longest = *std::max_element(cfg.contexts.begin(), cfg.contexts.end());
    const auto tokens = calibration_tokens(ctx.config, tok, longest * cfg.windows);
    const auto& mc = model.config();

    nlohmann::json contexts = nlohmann::json::object();
    for (const int64_t context : cfg.contexts) {
      const fs::path part = ctx.stage_dir / fmt::format("context_{}.json", context);
      const std::string hash = stable_hash(fmt::format(
          "{}|{}|{}|{}|{}", YAML::Dump(ctx.config.at("calibrate")), YAML::Dump(ctx.config.at("model")),
          YAML::Dump(ctx.config.at("data")), fingerprint, context));
      if (fs::exists(part) && read_json(part).value("hash", "") == hash) {
        ctx.log.info("context {}: complete, reused ({})", context, part.string());
        contexts[std::to_string(context)] = read_json(part);
        continue;
      }
      contexts[std::to_string(context)] =
          calibrate_context(ctx, cfg, model, gates ? &*gates : nullptr, block, tokens, context);
      contexts[std::to_string(context)]["hash"] = hash;
      io::write_file_atomic(part, contexts[std::to_string(context)].dump(1) + "\n");
    }

    nlohmann::json out;
    out["format"] = core::kThresholdFileFormat;
    out["version"] = 1;
    out["model"] = spec.name;
    out["gates"] = want_gate ? cfg.gates : "";
    out["gates_fingerprint"] = fingerprint;
    out["block_size"] = block;
    out["keep_sink"] = cfg.rules.keep_sink;
    out["dense_last_rows"] = cfg.rules.dense_last_rows;
    out["num_layers"] = mc.num_hidden_layers;
    out["heads"] = mc.num_attention_heads;
    out["targets"] = cfg.targets;
    std::vector<std::string> grans, sources;
    for (auto g : cfg.granularities) grans.push_back(core::granularity_name(g));
    for (auto s : cfg.sources) sources.push_back(core::calibration_source_name(s));
    out["granularities"] = grans;
    out["sources"] = sources;
    out["text"] = {{"split", "calib"}, {"data", analysis::yaml_to_json(ctx.config.at("data"))}};
    out["run"] = analysis::run_info(ctx.config);
    out["contexts"] = contexts;
    io::write_file_atomic(ctx.stage_dir / "thresholds.json", out.dump(1) + "\n");
    const std::string md = calibration_markdown(contexts);
    io::write_file_atomic(ctx.stage_dir / "calibration.md", md);
    ctx.log.info("\n{}", md);
  }

 private:
  nlohmann::json calibrate_context(StageContext& ctx, const CalibrateConfig& cfg,
                                   core::Decoder& model, const core::GateSet* gates, int64_t block,
                                   const std::vector<int64_t>& tokens, int64_t context) {
    require_one_window(ctx.config, "calib", tokens.size(), context, "calibrate.contexts");
    const int64_t available = static_cast<int64_t>(tokens.size()) / context;
    const int64_t windows = std::min(cfg.windows, available);
    if (windows < cfg.windows) {
      ctx.log.info("warning: calibrate: the calibration text holds {} windows of {}, not {}",
                   windows, context, cfg.windows);
    }
    const int64_t chunk = cfg.chunk_size > 0 ? cfg.chunk_size : context;
    if (chunk % block != 0) {
      throw config::ConfigError(fmt::format("calibrate.chunk_size = {} is not a multiple of the "
                                            "block size {}", chunk, block));
    }
    core::ThresholdCalibrator calib(cfg.rules);
    core::DensePolicy dense;
    core::GatedAttentionHook hook(gates, &dense, block);
    hook.observe_block_maps([&](const core::SparsityInputs& si) {
      calib.add(si.layer, si.gate_scores, si.ground_truth, si.geo);
    });
    const auto t0 = std::chrono::steady_clock::now();
    at::NoGradGuard no_grad;
    {
      core::ScopedAttentionHook attached(model, &hook);
      Progress progress(fmt::format("calibrate {}", context), windows);
      for (int64_t w = 0; w < windows; ++w) {
        auto ids = at::tensor(std::vector<int64_t>(tokens.begin() + w * context,
                                                   tokens.begin() + (w + 1) * context),
                              at::TensorOptions().dtype(at::kLong))
                       .unsqueeze(0);
        auto cache = model.new_cache();
        model.prefill(ids, cache, chunk);
        progress.update(w + 1, fmt::format("{:.0f} MB of maps", calib.bytes() / 1e6));
      }
      progress.finish();
    }
    const double model_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    const auto t1 = std::chrono::steady_clock::now();
    nlohmann::json points = nlohmann::json::array();
    std::map<std::pair<int, double>, std::pair<double, double>> mass;   // (granularity, target) -> gate, oracle
    for (const auto source : cfg.sources) {
      for (const auto gran : cfg.granularities) {
        for (const auto& p : calib.calibrate(source, gran, cfg.targets)) {
          points.push_back(core::calibration_point_json(p));
          auto& m = mass[{static_cast<int>(gran), p.target}];
          (source == core::CalibrationSource::kGate ? m.first : m.second) = p.g_mass_kept;
          ctx.log.file_only(fmt::format("context {} {} {} target {:.3f}: sparsity {:.4f}, G mass "
                                        "kept {:.4f}", context, core::calibration_source_name(source),
                                        core::granularity_name(gran), p.target, p.achieved,
                                        p.g_mass_kept));
        }
      }
    }
    const double solve_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    ctx.log.info("context {}: {} windows, {:.0f} MB of maps; model {:.1f}s, thresholds {:.1f}s",
                 context, windows, calib.bytes() / 1e6, model_s, solve_s);
    const bool both = cfg.sources.size() == 2;
    if (both) {
      ctx.log.info("  share of G's row mass kept at each target (gate vs oracle):");
      for (const auto& [key, m] : mass)
        ctx.log.info("    {:<6} {:>4.0f}%: gate {:.4f}  oracle {:.4f}",
                     core::granularity_name(static_cast<core::Granularity>(key.first)),
                     100.0 * key.second, m.first, m.second);
    }
    return {{"context", context},
            {"windows", windows},
            {"tokens", windows * context},
            {"chunk_size", chunk},
            {"forced_only_sparsity", calib.forced_only_sparsity()},
            {"model_seconds", model_s},
            {"solve_seconds", solve_s},
            {"points", points}};
  }
};

}  // namespace

std::unique_ptr<Stage> make_calibrate_stage() { return std::make_unique<CalibrateStage>(); }

}  // namespace seer::experiments
