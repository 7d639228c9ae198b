// Tests data/ruler: definitions, the 13 task generators (length targeting, references present in
// the prompt, RULER's template rewrites, seeds), the qa skip / fixture path, and the scoring and
// summary.csv layout.
#include "data/ruler/ruler_generate.h"

#include "catch.h"
#include "data/data_error.h"
#include "data/ruler/ruler_summary.h"
#include "eval_test_util.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <random>

using namespace seer::data;
using seer::test::Contains;
using Catch::Matchers::EndsWith;
using Catch::Matchers::StartsWith;
namespace fs = std::filesystem;

namespace {

const fs::path kRulerDir = fs::path(SEER_SOURCE_DIR) / "configs/benchmarks/ruler";

// A small essay so the essay tasks run without ../shared: sentences of varied words.
std::string make_essay_file(const fs::path& dir) {
  std::mt19937 rng(7);
  static const char* words[] = {"startups", "write", "essays", "about", "growth", "and", "users",
                                "founders", "think", "hard", "money", "ideas", "code", "work"};
  std::string text;
  for (int s = 0; s < 3000; ++s) {
    const int n = 4 + static_cast<int>(rng() % 12);
    for (int w = 0; w < n; ++w) text += std::string(w ? " " : "") + words[rng() % 14];
    text += (s % 7 == 0) ? "?\n" : ". ";
  }
  const fs::path path = dir / "essay.json";
  seer::test::write_file(path, nlohmann::json{{"text", text}}.dump());
  return path.string();
}

size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("RULER definitions load all 13 tasks", "[eval][ruler]") {
  const auto defs = load_ruler_definitions(kRulerDir / "tasks.yaml");
  CHECK(defs.tasks.size() == 13);
  CHECK(defs.task("niah_multikey_3").args.at("type_needle_k") == "uuids");
  CHECK(defs.family_of(defs.task("vt")).tokens_to_generate == 30);
  CHECK(defs.family_of(defs.task("qa_2")).metric == "string_match_part");
  CHECK(defs.chat_wrappers.count("llama-3") == 1);
  CHECK_THROWS_WITH(defs.task("niah_single_9"), Contains("niah_single_1"));
  const auto words = load_ruler_words(kRulerDir / "words");
  CHECK(words.nouns.size() > 1000);
  CHECK(words.adjectives.size() > 500);
}

TEST_CASE("RULER generators hit the length target and embed the answers", "[eval][ruler]") {
  const fs::path dir = seer::test::fresh_tmp_dir("ruler_generate");
  const auto defs = load_ruler_definitions(kRulerDir / "tasks.yaml");
  RulerResources resources;
  resources.essay_path = make_essay_file(dir);
  seer::test::WordTokenizer word_tokenizer;
  ByteTokenizer byte_tokenizer;
  const bool bytes = GENERATE(true, false);
  const TextTokenizer& tok = bytes ? static_cast<const TextTokenizer&>(byte_tokenizer) : word_tokenizer;
  const RulerGenerator gen(defs, load_ruler_words(kRulerDir / "words"), resources, tok);
  // In bytes, vt's smallest instance (one-shot example + 5 noise lines) is ~1.8k and cwe's at
  // >= 4096 is ~7k (300 numbered common words), so the byte targets start above those.
  const int64_t max_len = bytes ? GENERATE(2500, 9001, 20000) : GENERATE(700, 2500);
  const uint64_t seed = std::random_device{}();
  CAPTURE(bytes, max_len, seed);

  for (const auto& task : defs.tasks) {
    if (task.family == "qa") continue;
    CAPTURE(task.name);
    const auto samples = gen.generate(task.name, max_len, 3, seed);
    REQUIRE(samples.size() == 3);
    for (const auto& s : samples) {
      CAPTURE(s.index, s.size, s.length);
      CHECK(s.length == tok.count(s.input) + s.tokens_to_generate);
      CHECK(s.length <= max_len);
      // Closest fit: the size knob moves the prompt by at most a few dozen tokens (a sentence,
      // a noise line, a word), far less than 10% of these targets.
      CHECK(s.length >= max_len - std::max<int64_t>(max_len / 10, 120));
      CHECK_THAT(s.input, EndsWith(s.answer_prefix));
      CHECK_FALSE(s.outputs.empty());
      for (const auto& ref : s.outputs) CHECK_THAT(s.input, Contains(ref));
    }
    const auto again = gen.generate(task.name, max_len, 3, seed);
    CHECK(again[2].input == samples[2].input);
    CHECK(gen.generate(task.name, max_len, 1, seed + 1)[0].input != samples[0].input);
  }
}

TEST_CASE("RULER niah templates follow RULER's singular rewrite and needle counts", "[eval][ruler]") {
  const auto defs = load_ruler_definitions(kRulerDir / "tasks.yaml");
  ByteTokenizer tok;
  const RulerGenerator gen(defs, load_ruler_words(kRulerDir / "words"), RulerResources{}, tok,
                           "meta-chat");
  const auto single = gen.generate("niah_single_1", 4000, 1, 11)[0];
  CHECK_THAT(single.input, StartsWith("[INST] A special magic number is hidden"));
  CHECK_THAT(single.input, Contains("What is the special magic number for"));
  CHECK_THAT(single.input, Contains("[/INST] The special magic number for"));
  CHECK_THAT(single.answer_prefix, EndsWith("mentioned in the provided text is"));
  CHECK(occurrences(single.input, "One of the special magic numbers for") == 1);
  CHECK(single.outputs.size() == 1);
  CHECK(single.outputs[0].size() == 7);   // 7-digit numbers

  const auto multivalue = gen.generate("niah_multikey_2", 4000, 1, 11)[0];   // needle haystack
  CHECK(occurrences(multivalue.input, "One of the special magic numbers for") > 10);
  const auto uuids = gen.generate("niah_multikey_3", 4000, 1, 11)[0];
  CHECK(uuids.outputs[0].size() == 36);
  CHECK(uuids.outputs[0][14] == '4');   // version 4
  CHECK(gen.unavailable_reason("niah_multivalue").has_value());   // essay haystack not given
  CHECK_THAT(*gen.unavailable_reason("niah_multivalue"), Contains("essay_path"));
  const fs::path dir = seer::test::fresh_tmp_dir("ruler_niah");
  RulerResources with_essay;
  with_essay.essay_path = make_essay_file(dir);
  const RulerGenerator essay_gen(defs, load_ruler_words(kRulerDir / "words"), with_essay, tok);
  const auto mv = essay_gen.generate("niah_multivalue", 4000, 1, 3)[0];
  CHECK_THAT(mv.input, StartsWith("Some special magic numbers are hidden"));
  CHECK(mv.outputs.size() == 4);
  CHECK(occurrences(mv.input, "One of the special magic numbers for") == 4);
  const auto mq = essay_gen.generate("niah_multiquery", 4000, 1, 3)[0];
  CHECK(mq.outputs.size() == 4);
  CHECK_THAT(mq.input, Contains(", and "));
  CHECK_THROWS_AS(gen.generate("niah_single_1", 100, 1, 1), DataError);   // nothing fits
}

TEST_CASE("RULER qa is skipped without data and reads SQuAD / HotpotQA when given", "[eval][ruler]") {
  const auto defs = load_ruler_definitions(kRulerDir / "tasks.yaml");
  ByteTokenizer tok;
  const auto words = load_ruler_words(kRulerDir / "words");
  const RulerGenerator bare(defs, words, RulerResources{}, tok);
  REQUIRE(bare.unavailable_reason("qa_1").has_value());
  CHECK_THAT(*bare.unavailable_reason("qa_1"), Contains("squad_path"));
  CHECK_THAT(*bare.unavailable_reason("qa_2"), Contains("hotpotqa_path"));
  CHECK_THROWS_WITH(bare.generate("qa_1", 4000, 1, 1), Contains("squad_path"));

  const fs::path dir = seer::test::fresh_tmp_dir("ruler_qa");
  nlohmann::json squad = {{"data", nlohmann::json::array()}};
  for (int a = 0; a < 30; ++a) {
    nlohmann::json article = {{"paragraphs", nlohmann::json::array()}};
    for (int p = 0; p < 3; ++p) {
      article["paragraphs"].push_back(
          {{"context", fmt::format("Article {} paragraph {} tells that item {} costs {} coins.", a, p, a * 3 + p, a + p)},
           {"qas", {{{"question", fmt::format("What does item {} cost?", a * 3 + p)},
                     {"answers", {{{"text", fmt::format("{} coins", a + p)}}}},
                     {"is_impossible", false}},
                    {{"question", "Unanswerable?"}, {"answers", nlohmann::json::array()},
                     {"is_impossible", true}}}}});
    }
    squad["data"].push_back(article);
  }
  seer::test::write_file(dir / "squad.json", squad.dump());
  nlohmann::json hotpot = nlohmann::json::array();
  for (int q = 0; q < 20; ++q) {
    hotpot.push_back({{"question", fmt::format("Who wrote book {}?", q)},
                      {"answer", fmt::format("Author {}", q)},
                      {"context", nlohmann::json::array(
                                      {nlohmann::json::array({fmt::format("Book {}", q),
                                                              nlohmann::json::array({fmt::format("Book {} was written by Author {}.", q, q)})}),
                                       nlohmann::json::array({fmt::format("Other {}", q),
                                                              nlohmann::json::array({"Unrelated text. ", "More."})})})}});
  }
  seer::test::write_file(dir / "hotpot.json", hotpot.dump());
  RulerResources resources;
  resources.squad_path = (dir / "squad.json").string();
  resources.hotpotqa_path = (dir / "hotpot.json").string();
  const RulerGenerator gen(defs, words, resources, tok);
  CHECK_FALSE(gen.unavailable_reason("qa_1").has_value());
  for (const std::string task : {"qa_1", "qa_2"}) {
    CAPTURE(task);
    const auto samples = gen.generate(task, 2000, 4, 5);
    for (const auto& s : samples) {
      CHECK(s.length <= 2000);
      CHECK(s.length >= 2000 - 200);   // one document is ~70 bytes here
      CHECK_THAT(s.input, Contains("Document 1:\n"));
      CHECK_THAT(s.input, Contains(s.outputs[0]));   // the gold document is always in
    }
    CHECK(samples[1].outputs != samples[0].outputs);   // questions in file order
  }
}

TEST_CASE("RULER essay haystack from ../shared", "[eval][ruler][shared]") {
  const fs::path essay = seer::test::shared_dir() / "data/ruler/PaulGrahamEssays.json";
  if (!fs::exists(essay)) SEER_SKIP("../shared/data/ruler/PaulGrahamEssays.json absent");
  const auto defs = load_ruler_definitions(kRulerDir / "tasks.yaml");
  ByteTokenizer tok;
  RulerResources resources;
  resources.essay_path = essay.string();
  const RulerGenerator gen(defs, load_ruler_words(kRulerDir / "words"), resources, tok);
  const auto s = gen.generate("niah_single_2", 16000, 2, 1);
  for (const auto& sample : s) {
    CHECK(sample.length <= 16000);
    CHECK(sample.length >= 15800);
    CHECK_THAT(sample.input, Contains("July 2006"));   // the essays' first words
    CHECK_THAT(sample.input, Contains(sample.outputs[0]));
  }
}

TEST_CASE("RULER scoring and summary.csv", "[eval][ruler]") {
  // string_match_all: (2/2 + 1/2) / 2 = 75; postprocess turns control characters into newlines.
  const auto all = score_ruler_task("niah_multivalue", "string_match_all",
                                    {"  the 123\x01and 456 ", "123 only"},
                                    {{"123", "456"}, {"123", "456"}});
  CHECK(all.score == 75.0);
  CHECK(all.nulls == 0);
  // string_match_part: case-insensitive; an empty prediction counts as a null.
  const auto part = score_ruler_task("qa_1", "string_match_part", {"PARIS", " \n ", "Rome"},
                                     {{"paris", "lyon"}, {"x"}, {"Milan"}});
  CHECK(part.score == 33.33);
  CHECK(part.nulls == 1);
  CHECK_THROWS_AS(score_ruler_task("t", "exact", {"a"}, {{"a"}}), DataError);

  CHECK(ruler_summary_csv({all, part}) ==
        "0,1,2\nTasks,niah_multivalue,qa_1\nScore,75.0,33.33\nNulls,0/2,1/3\n");
  CHECK(python_float_repr(100.0) == "100.0");
  CHECK(python_float_repr(0.1) == "0.1");
  CHECK(python_float_repr(66.67) == "66.67");

  const fs::path dir = seer::test::fresh_tmp_dir("ruler_summary");
  write_ruler_summary(dir / "4096" / "summary.csv", {all});
  CHECK(seer::test::read_file(dir / "4096" / "summary.csv") == ruler_summary_csv({all}));
  const std::string table = ruler_length_table_csv({{4096, {all, part}}, {8192, {all}}});
  CHECK(table == "length,niah_multivalue,qa_1,average\n4096,75.0,33.33,54.16\n8192,75.0,,75.00\n");
}
