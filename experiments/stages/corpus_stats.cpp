// Stage corpus_stats: the size of every split of `data` (or of `corpus_stats.splits`): per
// document characters, words, lines and, with `corpus_stats.tokens: true`, tokens of the model's
// tokenizer; per split the length of its token stream (split_tokens, eos between documents, its
// window applied) and the seconds that read took. Writes stats.json. Cheap sanity check of a
// dataset before long runs (are the paths right, are the splits disjoint and long enough for the
// context lengths and the number of training windows you plan?):
//   seer run corpus_stats
//   seer run corpus_stats corpus_stats.splits=[eval] corpus_stats.tokens=false   # no model needed
#include "analysis/run_info.h"
#include "core/config/config_reader.h"
#include "core/io/atomic_file.h"
#include "core/model/model_spec.h"
#include "data/text_corpus.h"
#include "experiments/corpus_tokens.h"
#include "experiments/data_splits.h"
#include "experiments/stage.h"
#include "experiments/stage_inputs.h"
#include "experiments/stages/stages.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>

namespace seer::experiments {
namespace {

struct CorpusStatsConfig {
  std::vector<std::string> splits;   // empty = every split of `data`
  bool tokens = false;               // count tokens with the `model`'s tokenizer
};

CorpusStatsConfig parse_corpus_stats(const config::ConfigTree& tree) {
  CorpusStatsConfig c;
  if (!tree.has("corpus_stats")) return c;
  config::ConfigReader r(tree, "corpus_stats");
  c.splits = r.get<std::vector<std::string>>("splits", {});
  c.tokens = r.get<bool>("tokens", c.tokens);
  r.finish();
  return c;
}

std::vector<std::string> chosen_splits(const config::ConfigTree& tree, const CorpusStatsConfig& c) {
  return c.splits.empty() ? data_split_names(tree) : c.splits;
}

struct TextCounts {
  int64_t words = 0;
  int64_t lines = 0;
};

TextCounts count_text(const std::string& text) {
  TextCounts n;
  bool in_word = false;
  for (char c : text) {
    const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (!space && !in_word) ++n.words;
    in_word = !space;
    if (c == '\n') ++n.lines;
  }
  return n;
}

class CorpusStatsStage final : public Stage {
 public:
  std::string name() const override { return "corpus_stats"; }
  std::string summary() const override {
    return "sizes of the splits of `data` (characters, words, lines, tokens) -> stats.json";
  }
  std::vector<std::string> sections() const override { return {"data", "corpus_stats", "model"}; }
  void validate(const config::ConfigTree& config) const override {
    const auto cfg = parse_corpus_stats(config);
    for (const auto& split : chosen_splits(config, cfg)) validate_data_splits(config, split);
    if (cfg.tokens) core::parse_model_spec(config::ConfigReader(config, "model"));
  }
  // Token counts read every split (split_tokens' overlap check); word counts the chosen ones.
  std::vector<std::string> check_inputs(const config::ConfigTree& config) const override {
    const auto cfg = parse_corpus_stats(config);
    if (!cfg.tokens) {
      check_data_split_files(config, chosen_splits(config, cfg));
      return {};
    }
    check_model_inputs(config, ModelNeeds::kTokenizer);
    check_data_split_files(config);
    return {};
  }
  void run(StageContext& ctx) override {
    const auto cfg = parse_corpus_stats(ctx.config);
    std::optional<tokenizer::BpeTokenizer> tok;
    if (cfg.tokens) {
      tok.emplace(core::load_tokenizer(core::parse_model_spec(config::ConfigReader(ctx.config, "model"))));
    }
    nlohmann::json out = analysis::run_info(ctx.config);
    for (const auto& split : chosen_splits(ctx.config, cfg)) {
      const auto docs = data::load_text_corpus(parse_data_split(ctx.config, split));
      nlohmann::json rows = nlohmann::json::array();
      int64_t chars = 0, words = 0, doc_tokens = 0;
      for (const auto& d : docs) {
        const TextCounts n = count_text(d.text);
        nlohmann::json row = {{"id", d.id}, {"file", d.file.string()}, {"chars", d.text.size()},
                              {"words", n.words}, {"lines", n.lines}};
        if (tok) {
          const auto t = static_cast<int64_t>(tok->encode(d.text, false).size());
          row["tokens"] = t;
          doc_tokens += t;
        }
        chars += static_cast<int64_t>(d.text.size());
        words += n.words;
        rows.push_back(row);
        ctx.log.file_only(fmt::format("  {}: {:<32} {:>9} chars {:>8} words{}", split, d.id,
                                      d.text.size(), n.words,
                                      tok ? fmt::format(" {:>8} tokens", row["tokens"].get<int64_t>()) : ""));
      }
      nlohmann::json s = {{"documents", rows}, {"total_chars", chars}, {"total_words", words}};
      std::string tokens_text;
      if (tok) {
        // The stream the stages read: the overlap check of every split, then the split's tokens.
        const auto t0 = std::chrono::steady_clock::now();
        const auto stream = split_tokens(ctx.config, split, *tok, 0);
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        s["document_tokens"] = doc_tokens;
        s["stream_tokens"] = stream.size();
        s["split_tokens_seconds"] = seconds;
        tokens_text = fmt::format(", {} tokens (read in {:.1f} s)", stream.size(), seconds);
      }
      out["splits"][split] = s;
      ctx.log.info("data.{}: {} documents, {} characters, {} words{}", split, docs.size(), chars,
                   words, tokens_text);
    }
    io::write_file_atomic(ctx.stage_dir / "stats.json", out.dump(2) + "\n");
    ctx.log.info("-> {}", (ctx.stage_dir / "stats.json").string());
  }
};

}  // namespace

std::unique_ptr<Stage> make_corpus_stats_stage() { return std::make_unique<CorpusStatsStage>(); }

}  // namespace seer::experiments
