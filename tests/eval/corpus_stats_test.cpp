// The corpus_stats stage end to end on a fixture corpus: per split the documents and their sizes,
// and with the embedded model's tokenizer (skipped without it) the token stream's length, which
// must be the documents' tokens plus one eos between consecutive documents.
#include "catch.h"
#include "eval_test_util.h"
#include "run_test_util.h"
#include "experiments/runner.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
using namespace seer;

TEST_CASE("corpus_stats writes the size of every split", "[eval][splits]") {
  const fs::path dir = test::fresh_tmp_dir("corpus_stats");
  test::write_file(dir / "books" / "a.txt", "one two three\nfour\n");
  test::write_file(dir / "books" / "b.txt", "five six\n");
  test::write_file(dir / "books" / "c.txt", "seven\n");
  const bool tokens = GENERATE(false, true);
  CAPTURE(tokens);
  if (tokens && !fs::exists(test::embedded_model_path())) {
    SEER_SKIP("no embedded model (scripts/fetch_model.sh): " + test::embedded_model_path().string());
  }
  const std::string books = (dir / "books").string();
  const auto result = experiments::run_experiment(
      test::compose_experiment(
          "corpus_stats",
          {"++run.dir=" + (dir / "runs").string(), "++run.name=t",
           fmt::format("corpus_stats.tokens={}", tokens),
           fmt::format("data.train={{kind: text_dir, path: {}, exclude: [c.txt]}}", books),
           fmt::format("data.eval={{kind: text_file, path: {}/c.txt}}", books), "~data.calib"}),
      "corpus_stats");
  const auto stats = nlohmann::json::parse(test::read_file(result.run_dir / "corpus_stats" / "stats.json"));
  const auto& train = stats["splits"]["train"];
  REQUIRE(train["documents"].size() == 2);
  CHECK(train["documents"][0]["id"] == "a.txt");
  CHECK(train["documents"][0]["words"] == 4);
  CHECK(train["documents"][0]["lines"] == 2);
  CHECK(train["total_chars"] == 19 + 9);
  CHECK(train["total_words"] == 6);
  CHECK(stats["splits"]["eval"]["total_words"] == 1);
  CHECK(stats["splits"].size() == 2);
  if (tokens) {
    for (const char* split : {"train", "eval"}) {
      CAPTURE(split);
      const auto& s = stats["splits"][split];
      int64_t sum = 0;
      for (const auto& d : s["documents"]) sum += d["tokens"].get<int64_t>();
      CHECK(sum == s["document_tokens"].get<int64_t>());
      CHECK(s["stream_tokens"].get<int64_t>() == sum + static_cast<int64_t>(s["documents"].size()) - 1);
      CHECK(s["split_tokens_seconds"].get<double>() >= 0.0);
    }
  } else {
    CHECK_FALSE(train.contains("stream_tokens"));
  }
}
