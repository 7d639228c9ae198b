// Stage corpus_stats: reads the `data` corpus and writes per-document sizes to stats.json. Cheap
// sanity check of a dataset before long runs (is the path right, are the books long enough for
// the context lengths you plan?).
#include "analysis/run_info.h"
#include "core/config/config_reader.h"
#include "core/io/atomic_file.h"
#include "data/text_corpus.h"
#include "experiments/stage.h"
#include "experiments/stages/stages.h"

#include <nlohmann/json.hpp>

namespace seer::experiments {
namespace {

class CorpusStatsStage final : public Stage {
 public:
  std::string name() const override { return "corpus_stats"; }
  std::string summary() const override {
    return "sizes of the documents of the `data` corpus (characters, words, lines)";
  }
  std::vector<std::string> sections() const override { return {"data"}; }
  void validate(const config::ConfigTree& config) const override {
    data::parse_text_corpus(config::ConfigReader(config, "data"));
  }
  void run(StageContext& ctx) override {
    const auto spec = data::parse_text_corpus(config::ConfigReader(ctx.config, "data"));
    const auto docs = data::load_text_corpus(spec);
    nlohmann::json out = analysis::run_info(ctx.config);
    nlohmann::json rows = nlohmann::json::array();
    int64_t total_chars = 0, total_words = 0;
    for (const auto& d : docs) {
      int64_t words = 0, lines = 0;
      bool in_word = false;
      for (char c : d.text) {
        const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
        if (!space && !in_word) ++words;
        in_word = !space;
        if (c == '\n') ++lines;
      }
      total_chars += static_cast<int64_t>(d.text.size());
      total_words += words;
      rows.push_back({{"id", d.id}, {"chars", d.text.size()}, {"words", words}, {"lines", lines}});
      ctx.log.info("  {:<32} {:>9} chars {:>8} words", d.id, d.text.size(), words);
    }
    out["documents"] = rows;
    out["total_chars"] = total_chars;
    out["total_words"] = total_words;
    io::write_file_atomic(ctx.stage_dir / "stats.json", out.dump(2) + "\n");
    ctx.log.info("{} documents, {} characters, {} words -> {}", docs.size(), total_chars,
                 total_words, (ctx.stage_dir / "stats.json").string());
  }
};

}  // namespace

std::unique_ptr<Stage> make_corpus_stats_stage() { return std::make_unique<CorpusStatsStage>(); }

}  // namespace seer::experiments
