// Stage eval_ppl: perplexity of the `model` over a split of `data` (`eval.split`, default the
// held-out `eval`) at `eval.context` tokens per window (non-overlapping, or sliding with
// `eval.stride`), on the first `eval.max_tokens` tokens of the split's stream (documents joined in
// order, eos between them). Writes ppl.json and tokens.json:
//   seer run eval_ppl model=smollm2 data=embedded_books eval.context=1024 eval.max_tokens=8192
//   seer run eval_ppl eval.split=train     # the same on the distillation text
#include "analysis/run_info.h"
#include "core/config/config_reader.h"
#include "core/io/atomic_file.h"
#include "core/model/model_spec.h"
#include "core/model/perplexity.h"
#include "experiments/corpus_tokens.h"
#include "experiments/data_splits.h"
#include "experiments/stage.h"
#include "experiments/stage_inputs.h"
#include "experiments/stages/stages.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <chrono>

namespace seer::experiments {
namespace {

struct PplConfig {
  int64_t context = 1024;
  int64_t stride = 0;        // 0 = context (non-overlapping windows)
  int64_t max_tokens = 0;    // 0 = the whole split
  int64_t chunk_size = 512;  // tokens per forward inside a window ([chunk, V] logits)
  std::string split = "eval";   // the split of `data` to score
  bool check_finite = true;     // NaN / Inf in activations or logits stop the run
};

PplConfig parse_ppl_config(const config::ConfigReader& r) {
  PplConfig c;
  c.context = r.get<int64_t>("context");
  c.stride = r.get<int64_t>("stride", 0);
  c.max_tokens = r.get<int64_t>("max_tokens", 0);
  c.chunk_size = r.get<int64_t>("chunk_size", 512);
  c.split = r.get<std::string>("split", c.split);
  c.check_finite = r.get<bool>("check_finite");
  if (c.context < 2) r.fail("context", "must be >= 2");
  if (c.stride < 0 || c.stride > c.context) r.fail("stride", "must be in [0, context] (0 = context)");
  if (c.max_tokens < 0) r.fail("max_tokens", "must be >= 0 (0 = all)");
  if (c.chunk_size <= 0) r.fail("chunk_size", "must be positive");
  r.finish();
  return c;
}

class EvalPplStage final : public Stage {
 public:
  std::string name() const override { return "eval_ppl"; }
  std::string summary() const override {
    return "perplexity of the model over the data.eval split at a context length (ppl.json)";
  }
  std::vector<std::string> sections() const override { return {"model", "data", "eval"}; }
  void validate(const config::ConfigTree& config) const override {
    core::parse_model_spec(config::ConfigReader(config, "model"));
    validate_data_splits(config, parse_ppl_config(config::ConfigReader(config, "eval")).split);
  }
  std::vector<std::string> check_inputs(const config::ConfigTree& config) const override {
    std::vector<std::string> warnings;
    const ModelLimits model = check_model_inputs(config);
    check_data_split_files(config);
    const config::ConfigReader eval(config, "eval");
    const PplConfig cfg = parse_ppl_config(eval);
    // After the model's limit, so that a context too long for the model is named as such first.
    check_length_fits(model, eval, "context", cfg.context, warnings);
    if (cfg.max_tokens > 0 && cfg.max_tokens < cfg.context)
      eval.fail("max_tokens", fmt::format("{} tokens is less than one window of eval.context = {} "
                                          "(0 = the whole split)", cfg.max_tokens, cfg.context));
    return warnings;
  }
  void run(StageContext& ctx) override {
    const core::ModelSpec spec = core::parse_model_spec(config::ConfigReader(ctx.config, "model"));
    const PplConfig cfg = parse_ppl_config(config::ConfigReader(ctx.config, "eval"));
    const auto t0 = std::chrono::steady_clock::now();
    // The text before the weights: a split too short for one window fails before the slow part.
    const tokenizer::BpeTokenizer tok = core::load_tokenizer(spec);
    const std::vector<int64_t> tokens = split_tokens(ctx.config, cfg.split, tok, cfg.max_tokens);
    require_one_window(ctx.config, cfg.split, tokens.size(), cfg.context, "eval.context");
    ctx.log.info("loading {} ({}, {})", spec.path, spec.format, spec.dtype);
    core::Decoder model = core::load_decoder(spec);
    ctx.log.info("{} tokens of data.{}, context {}, stride {}", tokens.size(), cfg.split, cfg.context,
                 cfg.stride > 0 ? cfg.stride : cfg.context);
    core::PerplexityOptions opts;
    opts.context = cfg.context;
    opts.stride = cfg.stride;
    opts.chunk_size = cfg.chunk_size;
    opts.check_finite = cfg.check_finite;
    opts.label = fmt::format("eval_ppl: {} on data.{}", spec.path, cfg.split);
    const core::PerplexityResult res = core::perplexity(model, tokens, opts, [&](int64_t done, int64_t total) {
      ctx.log.file_only(fmt::format("window {}/{}", done, total));
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    nlohmann::json out = analysis::run_info(ctx.config);
    out["model"] = spec.name;
    out["split"] = cfg.split;
    out["context"] = cfg.context;
    out["stride"] = cfg.stride > 0 ? cfg.stride : cfg.context;
    out["tokens_in"] = tokens.size();
    out["tokens_scored"] = res.tokens;
    out["windows"] = res.windows;
    out["nll_sum"] = res.nll_sum;
    out["mean_nll"] = res.mean_nll();
    out["ppl"] = res.ppl();
    out["seconds"] = seconds;
    io::write_file_atomic(ctx.stage_dir / "ppl.json", out.dump(2) + "\n");
    // The exact ids, so scripts/check_ppl_vs_transformers.py scores the same tokens.
    io::write_file_atomic(ctx.stage_dir / "tokens.json", nlohmann::json(tokens).dump() + "\n");
    ctx.log.info("perplexity {:.4f} over {} tokens ({} windows of {}) in {:.1f} s -> {}", res.ppl(),
                 res.tokens, res.windows, cfg.context, seconds, (ctx.stage_dir / "ppl.json").string());
  }
};

}  // namespace

std::unique_ptr<Stage> make_eval_ppl_stage() { return std::make_unique<EvalPplStage>(); }

}  // namespace seer::experiments
