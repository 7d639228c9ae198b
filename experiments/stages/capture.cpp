// Stage capture: runs the frozen `model` over windows of the `data.train` split (CaptureHook)
// and writes, per sequence and selected layer, the ground-truth block map G and the block-pooled
// pre-RoPE Q/K to <stage>/capture.h5 (data/capture_file.h). Resumable: complete sequences already
// in the file are skipped.
//   seer run quickstart capture.num_sequences=4 capture.seq_len=2048 capture.layers=[0,5,10]
#include "analysis/run_info.h"
#include "core/config/config_error.h"
#include "core/config/config_reader.h"
#include "core/gate/capture_hook.h"
#include "core/io/atomic_file.h"
#include "core/model/model_spec.h"
#include "core/sparsity/block_mask.h"
#include "data/capture_file.h"
#include "experiments/data_splits.h"
#include "experiments/progress.h"
#include "experiments/stages/gate_stages.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>

namespace seer::experiments {
namespace {

struct CaptureConfig {
  int64_t seq_len = 2048;
  int64_t num_sequences = 8;
  int64_t block_size = 64;
  std::vector<int64_t> layers;   // empty = all
  std::vector<int64_t> heads;    // empty = all
  std::string g_dtype = "float16";
  bool pooled = true;
};

CaptureConfig parse_capture_config(const config::ConfigReader& r) {
  CaptureConfig c;
  c.seq_len = r.get<int64_t>("seq_len", c.seq_len);
  if (c.seq_len < 1) r.fail("seq_len", "expected >= 1");
  c.num_sequences = r.get<int64_t>("num_sequences", c.num_sequences);
  if (c.num_sequences < 1) r.fail("num_sequences", "expected >= 1");
  c.block_size = core::read_block_size(r, "block_size", c.block_size);
  c.layers = r.get<std::vector<int64_t>>("layers", {});
  c.heads = r.get<std::vector<int64_t>>("heads", {});
  c.g_dtype = r.get_choice("g_dtype", {"float16", "float32"}, c.g_dtype);
  c.pooled = r.get<bool>("pooled", c.pooled);
  r.finish();
  return c;
}

class CaptureStage final : public Stage {
 public:
  std::string name() const override { return "capture"; }
  std::string summary() const override {
    return "ground-truth block maps G and pooled Q/K of the frozen model -> capture.h5";
  }
  std::vector<std::string> sections() const override { return {"model", "data", "capture"}; }
  void validate(const config::ConfigTree& config) const override {
    core::parse_model_spec(config::ConfigReader(config, "model"));
    parse_capture_config(config::ConfigReader(config, "capture"));
    validate_data_splits(config, "train");
  }
  void run(StageContext& ctx) override {
    const auto spec = core::parse_model_spec(config::ConfigReader(ctx.config, "model"));
    const auto cfg = parse_capture_config(config::ConfigReader(ctx.config, "capture"));
    const auto t0 = std::chrono::steady_clock::now();
    ctx.log.info("loading {} ({}, {})", spec.path, spec.format, spec.dtype);
    core::Decoder model = core::load_decoder(spec);
    const auto& mc = model.config();
    for (int64_t l : cfg.layers)
      if (l < 0 || l >= mc.num_hidden_layers)
        throw config::ConfigError(fmt::format("capture.layers: layer {} outside [0, {})", l,
                                              mc.num_hidden_layers));
    for (int64_t h : cfg.heads)
      if (h < 0 || h >= mc.num_attention_heads)
        throw config::ConfigError(fmt::format("capture.heads: head {} outside [0, {})", h,
                                              mc.num_attention_heads));
    const auto windows = gate_token_windows(ctx.config, spec, cfg.seq_len, cfg.num_sequences);
    if (windows.empty())
      throw config::ConfigError(fmt::format("capture: the corpus has fewer than {} tokens",
                                            cfg.seq_len));
    data::CaptureFileInfo info;
    info.model = spec.name;
    info.block_size = cfg.block_size;
    info.num_layers = mc.num_hidden_layers;
    info.num_q_heads = mc.num_attention_heads;
    info.num_kv_heads = mc.num_key_value_heads;
    info.head_dim = mc.head_dim;
    info.layers = cfg.layers;
    info.heads = cfg.heads;
    info.g_dtype = cfg.g_dtype;
    const auto path = ctx.stage_dir / "capture.h5";
    data::CaptureWriter writer(path, info);

    core::CaptureOptions opts;
    opts.block = cfg.block_size;
    opts.layers = cfg.layers;
    opts.heads = cfg.heads;
    opts.pooled = cfg.pooled;
    core::CaptureHook hook(opts);
    model.set_attention_hook(&hook);
    // Chunks must start on block boundaries for the hook's chunked G.
    const int64_t chunk = std::max<int64_t>(cfg.block_size,
                                            spec.chunk_size / cfg.block_size * cfg.block_size);
    at::NoGradGuard no_grad;
    Progress progress("capture", static_cast<int64_t>(windows.size()));
    int64_t written = 0, skipped = 0;
    for (size_t w = 0; w < windows.size(); ++w) {
      const std::string id = fmt::format("seq_{:05d}", w);
      if (writer.has_sequence(id)) {
        ++skipped;
        progress.update(static_cast<int64_t>(w + 1));
        continue;
      }
      auto tokens = at::tensor(windows[w], at::TensorOptions().dtype(at::kLong)).unsqueeze(0);
      auto cache = model.new_cache();
      model.prefill(tokens, cache, chunk);
      data::CaptureSequence seq;
      seq.id = id;
      seq.length = static_cast<int64_t>(windows[w].size());
      for (auto& [layer, c] : hook.take()) {
        data::CaptureLayerData d;
        d.layer = layer;
        d.g = c.g.squeeze(0);
        if (c.q_pooled.defined()) {
          d.q_pooled = c.q_pooled.squeeze(0);
          d.k_pooled = c.k_pooled.squeeze(0);
        }
        seq.layers.push_back(std::move(d));
      }
      writer.write(seq);
      ++written;
      progress.update(static_cast<int64_t>(w + 1));
    }
    progress.finish();
    model.set_attention_hook(nullptr);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    nlohmann::json out = analysis::run_info(ctx.config);
    out["capture_file"] = path.string();
    out["sequences"] = writer.sequences().size();
    out["written"] = written;
    out["skipped_complete"] = skipped;
    out["seq_len"] = cfg.seq_len;
    out["seconds"] = seconds;
    io::write_file_atomic(ctx.stage_dir / "capture.json", out.dump(2) + "\n");
    ctx.log.info("captured {} sequences ({} already there) of {} tokens in {:.1f} s -> {}",
                 written, skipped, cfg.seq_len, seconds, path.string());
  }
};

}  // namespace

std::unique_ptr<Stage> make_capture_stage() { return std::make_unique<CaptureStage>(); }

}  // namespace seer::experiments
