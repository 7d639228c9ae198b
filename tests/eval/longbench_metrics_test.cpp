// Tests the LongBench metric ports: hand-computed values for each metric and quirk, and the same
// random predictions scored by the official Python metrics (longbench_reference.py, run with the
// venv's rouge / fuzzywuzzy / jieba).
#include "data/metrics/longbench_metrics.h"

#include "catch.h"
#include "data/data_error.h"
#include "data/metrics/fuzz_ratio.h"
#include "data/metrics/longbench_scorer.h"
#include "eval_test_util.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <random>

using namespace seer::data;
using seer::test::Contains;

TEST_CASE("qa_f1 normalises like SQuAD and scores bags of words", "[eval][longbench]") {
  CHECK(normalize_answer("The Cat, sat!  on a mat.") == "cat sat on mat");
  CHECK(normalize_answer("anthem theatre") == "anthem theatre");   // articles only as words
  CHECK(normalize_answer("Über-Café") == "übercafé");
  // "cat sat" vs "cat sat down": p = 1, r = 2/3, F1 = 0.8.
  CHECK(qa_f1_score("The cat sat", "a cat sat down") == Approx(0.8).epsilon(1e-12));
  CHECK(qa_f1_score("the", "a") == 0.0);   // both normalise to nothing
  // Repeated tokens count with multiplicity: pred [x x y], truth [x y y] share 2.
  CHECK(qa_f1_score("x x y", "x y y") == Approx(2.0 / 3.0).epsilon(1e-12));
}

TEST_CASE("rouge-L follows the rouge package's sentence and set rules", "[eval][longbench]") {
  // ref words {the, cat, sat, on, mat} (m = 5), hyp {the, cat, sat} (n = 3), LCS words 3.
  CHECK(rouge_score("the cat sat", "the cat sat on the mat") ==
        Approx(2.0 * (1.0 * 0.6) / (1.0 + 0.6 + 1e-8)).epsilon(1e-12));
  CHECK(rouge_score("", "anything") == 0.0);      // no hypothesis sentence: ValueError -> 0
  CHECK(rouge_score("...", "anything") == 0.0);
  // "a b. " has sentences ["a b", ""]: the empty word joins n (n = 3), LCS {a, b}; m = 2.
  const double p = 2.0 / 3.0, r = 1.0;
  CHECK(rouge_score("a b. ", "a b") == Approx(2.0 * (p * r) / (p + r + 1e-8)).epsilon(1e-12));
  // A sentence longer than Python's recursion budget makes the official scorer return 0.
  std::string long_sentence;
  for (int i = 0; i < 1200; ++i) long_sentence += fmt::format("w{} ", i);
  CHECK(rouge_score(long_sentence, long_sentence) == 0.0);
}

TEST_CASE("classification keeps the skip-after-remove quirk", "[eval][longbench]") {
  // Matches [A, AB, ABC]; removing A shifts AB into slot 0, so AB is never tested: 1/2.
  CHECK(classification_score("ABC", "ABC", {"A", "AB", "ABC"}) == 0.5);
  CHECK(classification_score("it is Location", "Location", {"Location", "Number"}) == 1.0);
  CHECK(classification_score("Location or Number", "Number", {"Location", "Number"}) == 0.5);
  CHECK(classification_score("nothing", "Number", {"Location", "Number"}) == 0.0);
}

TEST_CASE("retrieval, count and code similarity", "[eval][longbench]") {
  CHECK(retrieval_score("Paragraph 3, not 12", "Paragraph 3") == 0.5);
  CHECK(retrieval_score("no numbers", "Paragraph 3") == 0.0);
  CHECK(retrieval_zh_score("段落5", "段落5") == 1.0);
  CHECK_THROWS_AS(retrieval_score("1", "no id"), DataError);
  CHECK(count_score("There are 3 or 4 or 3", "3") == Approx(2.0 / 3.0).epsilon(1e-12));
  CHECK(count_score("３ paragraphs", "３") == 1.0);   // Python's \d matches full-width digits
  // fuzz.ratio("abcd", "abce") = round(100 * 2 * 3 / 8) = 75; comment lines are skipped.
  CHECK(code_sim_score("\n# comment\n```\nabcd\nxyz", "abce") == 0.75);
  CHECK(code_sim_score("// only comments", "") == 1.0);   // "" == "": fuzz.ratio gives 100
  CHECK(fuzz_ratio("", "x") == 0);
  // 100 * 2 * 5 / 16 = 62.5 and 100 * 2 * 3 / 16 = 37.5 exactly: Python's round() goes to even.
  CHECK(fuzz_ratio("abcde", "abcdefghijk") == 62);
  CHECK(fuzz_ratio("abc", "abcxxxxxxxxxx") == 38);
  CHECK(fuzz_ratio("abcde", "abcxx") == 60);
}

TEST_CASE("scorer dispatch, first-line rule, max over answers, buckets", "[eval][longbench]") {
  CHECK(longbench_metric_for("qasper") == LongBenchMetric::qa_f1);
  CHECK(longbench_metric_for("qasper_e") == LongBenchMetric::qa_f1);
  CHECK(longbench_metric_for("repobench-p") == LongBenchMetric::code_sim);
  CHECK(longbench_datasets().size() == 21);
  CHECK_THROWS_WITH(longbench_metric_for("squad"), Contains("squad") && Contains("qasper"));
  // triviaqa scores the first line only; the max over answers picks the exact one.
  CHECK(longbench_sample_score("triviaqa", "\n\nParis\nLondon", {"London", "Paris"}, {}) == 1.0);
  CHECK(longbench_sample_score("hotpotqa", "Paris\nLondon", {"London"}, {}) ==
        Approx(2.0 / 3.0).epsilon(1e-12));
  CHECK(longbench_dataset_score({1.0, 0.0, 0.5}) == 50.0);
  CHECK(longbench_dataset_score({1.0, 0.0, 0.0}) == 33.33);
  CHECK(longbench_e_bucket(3999) == "0-4k");
  CHECK(longbench_e_bucket(4000) == "4-8k");
  CHECK(longbench_e_bucket(8000) == "8k+");
  const auto e = longbench_e_scores({1.0, 0.0, 0.25}, {10, 9000, 9001});
  CHECK(e.at("0-4k") == 100.0);
  CHECK(std::isnan(e.at("4-8k")));
  CHECK(e.at("8k+") == 12.5);
}
