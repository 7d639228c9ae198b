// Tests data/longbench: the JSONL reader, the shipped templates, str.format rules and middle
// truncation with two tokenizers.
#include "data/longbench/longbench_dataset.h"

#include "catch.h"
#include "data/data_error.h"
#include "eval_test_util.h"

#include <fmt/format.h>

#include <random>

using namespace seer::data;
using seer::test::Contains;
namespace fs = std::filesystem;

namespace {

const fs::path kDefinitions = fs::path(SEER_SOURCE_DIR) / "configs/benchmarks/longbench";

}  // namespace

TEST_CASE("LongBench JSONL samples load with every field", "[eval][longbench]") {
  const fs::path dir = seer::test::fresh_tmp_dir("longbench_jsonl");
  const fs::path file = dir / "trec.jsonl";
  seer::test::write_file(
      file,
      R"({"input": "What is X?", "context": "ctx one", "answers": ["Entity"], "length": 4100, "dataset": "trec", "language": "en", "all_classes": ["Entity", "Number"], "_id": "a1"})"
      "\n"
      R"({"input": "Q2", "context": "ctx two", "answers": ["x", "y"], "length": 12, "dataset": "trec", "all_classes": null, "_id": "a2"})"
      "\n");
  const auto samples = load_longbench_jsonl(file);
  REQUIRE(samples.size() == 2);
  CHECK(samples[0].input == "What is X?");
  CHECK(samples[0].context == "ctx one");
  CHECK(samples[0].answers == std::vector<std::string>{"Entity"});
  CHECK(samples[0].all_classes == std::vector<std::string>{"Entity", "Number"});
  CHECK(samples[0].length == 4100);
  CHECK(samples[0].id == "a1");
  CHECK(samples[1].all_classes.empty());
  CHECK(samples[1].answers.size() == 2);
  CHECK(load_longbench_jsonl(file, 1).size() == 1);

  seer::test::write_file(dir / "bad.jsonl", R"({"input": "q", "context": "c", "answers": "x", "length": 1})" "\n");
  CHECK_THROWS_WITH(load_longbench_jsonl(dir / "bad.jsonl"),
                    Contains("bad.jsonl:1") && Contains("'answers'"));
  seer::test::write_file(dir / "nolen.jsonl", R"({"input": "q", "context": "c", "answers": []})" "\n");
  CHECK_THROWS_WITH(load_longbench_jsonl(dir / "nolen.jsonl"), Contains("'length'"));
}

TEST_CASE("LongBench templates and generation lengths come from the shipped JSON", "[eval][longbench]") {
  const auto task = load_longbench_task(kDefinitions, "hotpotqa_e");
  CHECK(task.dataset == "hotpotqa");
  CHECK(task.max_gen == 32);
  CHECK(task.prompt_template.find("{context}") != std::string::npos);
  CHECK(load_longbench_task(kDefinitions, "gov_report").max_gen == 512);
  CHECK_THROWS_WITH(load_longbench_task(kDefinitions, "squad"), Contains("squad"));

  LongBenchSample s;
  s.input = "Who?";
  s.context = "Doc {with braces}";
  s.record = {{"input", s.input}, {"context", s.context}, {"extra", 3}};
  LongBenchTask t{"toy", "C: {context}\n{{literal}} Q: {input} {extra}", 8};
  CHECK(format_longbench_prompt(t, s) == "C: Doc {with braces}\n{literal} Q: Who? 3");
  t.prompt_template = "{missing}";
  CHECK_THROWS_WITH(format_longbench_prompt(t, s), Contains("missing"));
  t.prompt_template = "a } b";
  CHECK_THROWS_AS(format_longbench_prompt(t, s), DataError);

  CHECK_FALSE(longbench_uses_chat_template("lcc"));
  CHECK_FALSE(longbench_uses_chat_template("trec_e"));
  CHECK(longbench_uses_chat_template("qasper"));
}

TEST_CASE("middle truncation keeps the first and last halves", "[eval][longbench]") {
  const uint32_t seed = std::random_device{}();
  std::mt19937 rng(seed);
  const int64_t words = GENERATE(1, 7, 64, 301);
  const int64_t max_length = GENERATE(1, 2, 9, 64, 100, 1000);
  CAPTURE(seed, words, max_length);
  std::string prompt;
  for (int64_t i = 0; i < words; ++i) prompt += fmt::format(" w{}", rng() % 1000);

  SECTION("word tokenizer") {
    seer::test::WordTokenizer tok;
    const auto ids = tok.encode(prompt);
    const auto out = truncate_middle(tok, prompt, max_length);
    CHECK(out.tokens == static_cast<int64_t>(ids.size()));
    if (static_cast<int64_t>(ids.size()) <= max_length) {
      CHECK_FALSE(out.truncated);
      CHECK(out.text == prompt);
    } else {
      const int64_t half = max_length / 2;
      CHECK(out.truncated);
      std::vector<int64_t> head(ids.begin(), ids.begin() + half);
      std::vector<int64_t> tail(half == 0 ? ids.begin() : ids.end() - half, ids.end());
      CHECK(out.text == tok.decode(head) + tok.decode(tail));
      if (half > 0) CHECK(static_cast<int64_t>(tok.encode(out.text).size()) == 2 * half);
    }
  }
  SECTION("byte tokenizer") {
    ByteTokenizer tok;
    const auto out = truncate_middle(tok, prompt, max_length);
    if (static_cast<int64_t>(prompt.size()) > max_length && max_length > 1) {
      const size_t half = static_cast<size_t>(max_length / 2);
      CHECK(out.text == prompt.substr(0, half) + prompt.substr(prompt.size() - half));
    }
  }
  CHECK_THROWS_AS(truncate_middle(ByteTokenizer(), prompt, 0), DataError);
}
