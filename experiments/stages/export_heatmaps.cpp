// Stage export_heatmaps: for chosen layers and query heads, the ground truth G, the gate scores P
// and the final block mask of one held-out sequence (the start of the data.eval split), side by
// side as PNG (colour bar, labels) plus the matrices as JSON. A live run: the model runs once with
// a CaptureHook that records all three. The mask is that of `heatmaps.setting`, a row of the sweep
// table by its label (e.g. "gate tau=0.02": the sweep method's sparsity section, its own gates and
// calibrated thresholds included), or, without it, of the experiment's `sparsity` section; the
// figure's title names which.
//   seer run quickstart heatmaps.layers=[0,15,29] heatmaps.heads=[0,4] "heatmaps.setting=gate tau=0.004"
#include "analysis/python_plot.h"
#include "analysis/run_info.h"
#include "core/config/config_reader.h"
#include "core/config/paths.h"
#include "core/gate/capture_hook.h"
#include "core/gate/gate_file.h"
#include "core/io/atomic_file.h"
#include "core/model/model_spec.h"
#include "core/sparsity/sparsity_policy.h"
#include "experiments/corpus_tokens.h"
#include "experiments/data_splits.h"
#include "experiments/gate_folders.h"
#include "experiments/stage.h"
#include "experiments/stage_inputs.h"
#include "experiments/policy_resources.h"
#include "experiments/stages/stages.h"
#include "experiments/sweep_grid.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

namespace seer::experiments {
namespace {

struct HeatmapConfig {
  std::string gates;              // stage id of this run or a gates folder
  std::vector<int64_t> layers;
  std::vector<int64_t> heads;
  int64_t seq_len = 2048;
  std::string setting;            // a sweep table row's label; "" = the `sparsity` section
};

HeatmapConfig parse_heatmaps(const config::ConfigReader& r) {
  HeatmapConfig c;
  c.gates = r.get<std::string>("gates");
  c.layers = r.get<std::vector<int64_t>>("layers");
  c.heads = r.get<std::vector<int64_t>>("heads", {0});
  c.seq_len = r.get<int64_t>("seq_len", c.seq_len);
  c.setting = r.get<std::string>("setting", "");
  if (c.layers.empty()) r.fail("layers", "expected at least one layer");
  if (c.heads.empty()) r.fail("heads", "expected at least one head");
  if (c.seq_len < 2) r.fail("seq_len", "expected >= 2");
  r.finish();
  return c;
}

nlohmann::json matrix_json(const at::Tensor& m) {
  const at::Tensor c = m.to(at::kCPU, at::kDouble).contiguous();
  nlohmann::json rows = nlohmann::json::array();
  const auto a = c.accessor<double, 2>();
  for (int64_t i = 0; i < c.size(0); ++i) {
    nlohmann::json row = nlohmann::json::array();
    for (int64_t j = 0; j < c.size(1); ++j) row.push_back(a[i][j]);
    rows.push_back(row);
  }
  return rows;
}

// The sweep setting labelled `label`; a ConfigError on heatmaps.setting listing the labels when
// there is none.
SweepSetting sweep_setting(const config::ConfigTree& config, const std::string& label) {
  const config::ConfigReader heatmaps(config, "heatmaps");
  if (!config.has("sweep.methods"))
    heatmaps.fail("setting", "names a sweep setting, but the config has no sweep.methods");
  const auto settings = expand_sweep_methods(config::ConfigReader(config, "sweep"), true);
  std::vector<std::string> labels;
  for (const auto& s : settings) {
    if (s.label == label) return s;
    labels.push_back("'" + s.label + "'");
  }
  heatmaps.fail("setting", fmt::format("no sweep setting has this label (they are {})",
                                       fmt::join(labels, ", ")));
  return {};   // not reached: fail throws
}

// What draws the mask: the policy, the gates it reads and the name the figure gives it.
struct MaskSource {
  std::unique_ptr<core::SparsityPolicy> policy;
  std::string gates;
  std::string name;
};

MaskSource mask_source(const StageContext& ctx, const HeatmapConfig& cfg) {
  MaskSource m;
  if (cfg.setting.empty()) {
    m.policy = core::parse_sparsity_policy(config::ConfigReader(ctx.config, "sparsity"));
    m.gates = cfg.gates;
    m.name = fmt::format("{} (the sparsity section)", m.policy->name());
    return m;
  }
  const SweepSetting s = sweep_setting(ctx.config, cfg.setting);
  const config::ConfigTree cell = cell_config(ctx.config, s, cfg.seq_len);
  m.policy = core::parse_sparsity_policy(config::ConfigReader(cell, "sparsity"),
                                         policy_resources(ctx, cfg.seq_len));
  m.gates = s.gates.empty() ? cfg.gates : s.gates;
  if (m.policy->needs_gate())
    check_thresholds_fit_gates(cell, *m.policy, gates_fingerprint(ctx.gates_path(m.gates)), m.gates);
  m.name = fmt::format("'{}' (sweep setting)", s.label);
  return m;
}

class ExportHeatmapsStage final : public Stage {
 public:
  std::string name() const override { return "export_heatmaps"; }
  std::string summary() const override {
    return "PNG heatmaps of ground truth G, gate scores P and the block mask for chosen layers/heads";
  }
  std::vector<std::string> sections() const override {
    return {"model", "data", "sparsity", "heatmaps", "sweep"};
  }
  void validate(const config::ConfigTree& config) const override {
    core::parse_model_spec(config::ConfigReader(config, "model"));
    validate_data_splits(config, "eval");
    core::parse_sparsity_policy(config::ConfigReader(config, "sparsity"));
    const auto cfg = parse_heatmaps(config::ConfigReader(config, "heatmaps"));
    if (!cfg.setting.empty()) sweep_setting(config, cfg.setting);
  }
  std::vector<std::string> check_inputs(const config::ConfigTree& config) const override {
    std::vector<std::string> warnings;
    const ModelLimits model = check_model_inputs(config);
    check_data_split_files(config);
    const config::ConfigReader heatmaps(config, "heatmaps");
    check_length_fits(model, heatmaps, "seq_len", parse_heatmaps(heatmaps).seq_len, warnings);
    return warnings;
  }

  void run(StageContext& ctx) override {
    const auto spec = core::parse_model_spec(config::ConfigReader(ctx.config, "model"));
    const auto cfg = parse_heatmaps(config::ConfigReader(ctx.config, "heatmaps"));
    const MaskSource mask_of = mask_source(ctx, cfg);
    const auto& policy = mask_of.policy;
    // The text before the weights: a split too short for the sequence fails before the slow part.
    const auto tok = core::load_tokenizer(spec);
    const auto tokens = split_tokens(ctx.config, "eval", tok, cfg.seq_len);
    require_one_window(ctx.config, "eval", tokens.size(), cfg.seq_len, "heatmaps.seq_len");

    core::Decoder model = core::load_decoder(spec);
    const auto& mc = model.config();
    for (auto l : cfg.layers) {
      if (l < 0 || l >= mc.num_hidden_layers) {
        throw std::runtime_error(fmt::format("heatmaps.layers: layer {} outside [0, {})", l,
                                             mc.num_hidden_layers));
      }
    }
    for (auto h : cfg.heads) {
      if (h < 0 || h >= mc.num_attention_heads) {
        throw std::runtime_error(fmt::format("heatmaps.heads: head {} outside [0, {})", h,
                                             mc.num_attention_heads));
      }
    }
    const fs::path gdir = ctx.gates_path(mask_of.gates);
    core::GateSet gates = load_gates_for_model(gdir, spec);
    gates.to(core::model_device(spec), at::kFloat);

    core::CaptureOptions opts;
    opts.block = gates.config.block_size;
    opts.layers = cfg.layers;
    opts.heads = cfg.heads;
    opts.pooled = false;
    opts.gates = &gates;
    opts.policy = policy.get();
    core::CaptureHook hook(opts);
    model.set_attention_hook(&hook);
    at::NoGradGuard no_grad;
    auto cache = model.new_cache();
    const int64_t chunk = std::max<int64_t>(opts.block, spec.chunk_size / opts.block * opts.block);
    model.prefill(at::tensor(tokens, at::kLong).unsqueeze(0), cache, chunk);
    model.set_attention_hook(nullptr);
    auto captured = hook.take();

    nlohmann::json index = analysis::run_info(ctx.config);
    nlohmann::json images = nlohmann::json::array();
    for (const auto layer : cfg.layers) {
      const auto& c = captured.at(layer);
      for (size_t hi = 0; hi < cfg.heads.size(); ++hi) {
        const int64_t head = cfg.heads[hi];
        const at::Tensor g = c.g[0][static_cast<int64_t>(hi)];
        const at::Tensor p = c.p[0][static_cast<int64_t>(hi)];
        const at::Tensor mask = c.mask[0][static_cast<int64_t>(hi)].to(at::kFloat);
        const double kept = mask.sum().item<double>();
        const double causal = static_cast<double>(mask.size(0) * (mask.size(0) + 1) / 2);
        nlohmann::json spec_json;
        spec_json["title"] = fmt::format("{}  layer {}  head {}  ({} tokens, block {})\nmask of {}: "
                                         "sparsity {:.0f}% in this head", spec.name, layer, head,
                                         tokens.size(), opts.block, mask_of.name,
                                         100.0 * (1.0 - kept / causal));
        spec_json["panels"] = {
            {{"name", "ground truth G"}, {"kind", "prob"}, {"matrix", matrix_json(g)}},
            {{"name", "gate scores P"}, {"kind", "prob"}, {"matrix", matrix_json(p)}},
            {{"name", "block mask"}, {"kind", "mask"}, {"matrix", matrix_json(mask)}}};
        const std::string stem = fmt::format("heatmap_L{:02d}_H{:02d}", layer, head);
        const fs::path json_path = ctx.stage_dir / (stem + ".json");
        const fs::path png_path = ctx.stage_dir / (stem + ".png");
        io::write_file_atomic(json_path, spec_json.dump() + "\n");
        analysis::run_plot_script("heatmaps.py", {json_path.string(), png_path.string()});
        images.push_back({{"layer", layer}, {"head", head}, {"png", png_path.string()},
                          {"data", json_path.string()}, {"sparsity", 1.0 - kept / causal}});
        ctx.log.info("  layer {:>2} head {:>2}: {}", layer, head, png_path.string());
      }
    }
    index["mask"] = mask_of.name;
    index["images"] = images;
    io::write_file_atomic(ctx.stage_dir / "heatmaps.json", index.dump(2) + "\n");
  }
};

}  // namespace

std::unique_ptr<Stage> make_export_heatmaps_stage() {
  return std::make_unique<ExportHeatmapsStage>();
}

}  // namespace seer::experiments
