// Cross-checks the LongBench metric ports against the official Python metrics
// (tests/eval/longbench_reference.py: LongBench's metrics.py + eval.py with the PyPI packages
// rouge, fuzzywuzzy and jieba) on fresh random predictions. Skips when the venv python or those
// packages are missing.
#include "catch.h"
#include "data/metrics/longbench_metrics.h"
#include "data/metrics/longbench_scorer.h"
#include "eval_test_util.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <random>

using namespace seer::data;
using nlohmann::json;

namespace {

class RandomText {
 public:
  explicit RandomText(uint32_t seed) : rng_(seed) {}

  size_t below(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  template <typename T>
  const T& pick(const std::vector<T>& v) { return v[below(v.size())]; }

  // English-ish text with the characters the normalisers care about.
  std::string english(size_t max_words) {
    static const std::vector<std::string> words = {
        "the", "The", "a", "an", "An", "cat", "Cat,", "dog.", "sat", "on", "mat", "theory",
        "anthem", "(x)", "42", "3.5", "don't", "Über", "café", "naïve", "...", ".", "?", "--",
        "end.", "A.", "\n", "\t", "  ", "Paris", "London", "x_y", "e-mail"};
    std::string out;
    const size_t n = below(max_words + 1);
    for (size_t i = 0; i < n; ++i) out += (below(4) == 0 ? "" : " ") + pick(words);
    return out;
  }

  std::string chinese(size_t max_tokens) {
    static const std::vector<std::string> tokens = {
        "我", "们", "在", "北京", "大学", "学习", "。", "，", "！", "（", "）", "“", "”", "abc",
        "GPT4", "3.5", "%", " ", "\n", "的", "是", "中国", "人民", "段落", "、", "..."};
    std::string out;
    const size_t n = below(max_tokens + 1);
    for (size_t i = 0; i < n; ++i) out += pick(tokens);
    return out;
  }

  std::string code_line(size_t max_len) {
    static const std::string chars = "abcdefxyz_ ()[]{}=+-*/.,:;0123456789eeeee    ";
    std::string out;
    const size_t n = below(max_len + 1);
    for (size_t i = 0; i < n; ++i) out.push_back(chars[below(chars.size())]);
    return out;
  }

  std::string code_prediction(size_t max_len) {
    static const std::vector<std::string> prefixes = {"", "\n", "\n\n", "# note\n", "```\n",
                                                      "// c\n", "```python\n# x\n"};
    std::string out = pick(prefixes) + code_line(max_len);
    if (below(2) == 0) out += "\n" + code_line(40);
    return out;
  }

  std::string numbers_text(int max_value) {
    std::string out;
    const size_t n = below(5);
    for (size_t i = 0; i < n; ++i) out += fmt::format("{} {} ", pick(std::vector<std::string>{
        "Paragraph", "is", "and", "段落", "count"}), below(max_value));
    return out;
  }

 private:
  std::mt19937 rng_;
};

json metric_case(const std::string& metric, const std::string& prediction,
                 const std::string& ground_truth, const std::vector<std::string>& classes = {}) {
  return json{{"metric", metric}, {"prediction", prediction}, {"ground_truth", ground_truth},
              {"all_classes", classes}};
}

// Runs the reference script; returns false (after SEER_SKIP-worthy message in `why`) if it can't.
bool run_reference(const json& cases, const std::string& name, json* out, std::string* why) {
  if (!seer::test::have_test_python()) {
    *why = fmt::format("python {} not found", SEER_TEST_PYTHON);
    return false;
  }
  int rc = 0;
  seer::test::run_capture(fmt::format("'{}' -c 'import rouge, fuzzywuzzy, jieba' 2>&1",
                                      SEER_TEST_PYTHON), &rc);
  if (rc != 0) {
    *why = "PyPI packages rouge / fuzzywuzzy / jieba missing from the venv (scripts/setup.sh)";
    return false;
  }
  const auto dir = seer::test::fresh_tmp_dir(name);
  seer::test::write_file(dir / "cases.json", cases.dump());
  const std::string log = seer::test::run_capture(
      fmt::format("'{}' '{}/tests/eval/longbench_reference.py' '{}' '{}' 2>&1", SEER_TEST_PYTHON,
                  SEER_SOURCE_DIR, (dir / "cases.json").string(), (dir / "out.json").string()),
      &rc);
  INFO(log);
  REQUIRE(rc == 0);
  *out = json::parse(seer::test::read_file(dir / "out.json"));
  return true;
}

double score_case(const json& c) {
  const auto metric = c["metric"].get<std::string>();
  const auto p = c["prediction"].get<std::string>();
  const auto g = c["ground_truth"].get<std::string>();
  if (metric == "qa_f1_score") return qa_f1_score(p, g);
  if (metric == "qa_f1_zh_score") return qa_f1_zh_score(p, g);
  if (metric == "rouge_score") return rouge_score(p, g);
  if (metric == "rouge_zh_score") return rouge_zh_score(p, g);
  if (metric == "classification_score") {
    return classification_score(p, g, c["all_classes"].get<std::vector<std::string>>());
  }
  if (metric == "retrieval_score") return retrieval_score(p, g);
  if (metric == "retrieval_zh_score") return retrieval_zh_score(p, g);
  if (metric == "count_score") return count_score(p, g);
  if (metric == "code_sim_score") return code_sim_score(p, g);
  FAIL("unknown metric " << metric);
  return 0.0;
}

}  // namespace

TEST_CASE("LongBench metrics match the official Python scorer", "[eval][longbench][python]") {
  const uint32_t seed = std::random_device{}();
  CAPTURE(seed);
  RandomText r(seed);
  json cases = {{"zh", "chars"}, {"metrics", json::array()}, {"datasets", json::array()}};
  auto& m = cases["metrics"];
  for (int i = 0; i < 150; ++i) {
    m.push_back(metric_case("qa_f1_score", r.english(12), r.english(6)));
    m.push_back(metric_case("rouge_score", r.english(60), r.english(60)));
    m.push_back(metric_case("qa_f1_zh_score", r.chinese(15), r.chinese(8)));
    m.push_back(metric_case("rouge_zh_score", r.chinese(40), r.chinese(40)));
    m.push_back(metric_case("code_sim_score", r.code_prediction(i % 3 == 0 ? 400 : 60),
                            r.code_line(i % 3 == 0 ? 400 : 60)));
    m.push_back(metric_case("count_score", r.numbers_text(6), std::to_string(r.below(6))));
    m.push_back(metric_case("retrieval_score", r.numbers_text(6),
                            fmt::format("Paragraph {}", r.below(6))));
    m.push_back(metric_case("retrieval_zh_score", r.numbers_text(6),
                            fmt::format("段落{}", r.below(6))));
    const std::vector<std::string> classes = {"Entity", "Entity type", "Number", "Number of",
                                              "Location", "Loc", "Human", "Human being"};
    std::string pred;
    for (int k = 0; k < 3; ++k) pred += r.pick(classes) + (r.below(2) ? " or " : "");
    m.push_back(metric_case("classification_score", pred, r.pick(classes), classes));
  }
  // Python's recursion limit: the reference calls the metric from main(), as deep as eval.py's
  // scorer(), so sentences around the limit must agree too.
  for (int words = 988; words <= 993; ++words) {
    std::string sentence;
    for (int w = 0; w < words; ++w) sentence += fmt::format("w{} ", w);
    m.push_back(metric_case("rouge_score", sentence, sentence));
  }
  // Whole datasets through eval.py's scorer / scorer_e, several answers per sample.
  for (const auto& dataset : longbench_datasets()) {
    json d = {{"dataset", dataset}, {"predictions", json::array()}, {"answers", json::array()},
              {"lengths", json::array()}, {"all_classes", {"Entity", "Number", "Location"}}};
    const auto metric = longbench_metric_for(dataset);
    for (int s = 0; s < 7; ++s) {
      std::string pred;
      std::vector<std::string> answers;
      for (size_t a = 0; a < 1 + r.below(3); ++a) {
        switch (metric) {
          case LongBenchMetric::qa_f1_zh:
          case LongBenchMetric::rouge_zh: answers.push_back(r.chinese(10)); break;
          case LongBenchMetric::code_sim: answers.push_back(r.code_line(50)); break;
          case LongBenchMetric::classification:
            answers.push_back(r.pick(std::vector<std::string>{"Entity", "Number", "Location"}));
            break;
          case LongBenchMetric::retrieval: answers.push_back(fmt::format("Paragraph {}", r.below(4))); break;
          case LongBenchMetric::retrieval_zh: answers.push_back(fmt::format("段落{}", r.below(4))); break;
          case LongBenchMetric::count: answers.push_back(std::to_string(r.below(4))); break;
          default: answers.push_back(r.english(8));
        }
      }
      switch (metric) {
        case LongBenchMetric::qa_f1_zh:
        case LongBenchMetric::rouge_zh: pred = r.chinese(20); break;
        case LongBenchMetric::code_sim: pred = r.code_prediction(50); break;
        case LongBenchMetric::retrieval:
        case LongBenchMetric::retrieval_zh:
        case LongBenchMetric::count: pred = r.numbers_text(4); break;
        case LongBenchMetric::classification: pred = "\nEntity or Number\nLocation"; break;
        default: pred = (r.below(2) ? "\n" : "") + r.english(10) + "\n" + answers[0];
      }
      d["predictions"].push_back(pred);
      d["answers"].push_back(answers);
      d["lengths"].push_back(r.below(3) == 0 ? 500 : (r.below(2) ? 5000 : 12000));
    }
    cases["datasets"].push_back(d);
  }

  json ref;
  std::string why;
  if (!run_reference(cases, "longbench_reference", &ref, &why)) SEER_SKIP(why);

  const auto& expected = ref["metrics"];
  REQUIRE(expected.size() == m.size());
  int code_cases = 0;
  for (size_t i = 0; i < m.size(); ++i) {
    if (m[i]["metric"] == "code_sim_score" && !ref["difflib"].get<bool>()) continue;
    code_cases += m[i]["metric"] == "code_sim_score" ? 1 : 0;
    const double got = score_case(m[i]);
    CAPTURE(i, m[i].dump());
    CHECK(got == Approx(expected[i].get<double>()).margin(1e-12));
  }
  if (!ref["difflib"].get<bool>()) {
    WARN("python-Levenshtein is installed, so fuzzywuzzy is not LongBench's difflib; "
         "code_sim cross-check skipped");
  }

  const auto& datasets = cases["datasets"];
  for (size_t k = 0; k < datasets.size(); ++k) {
    const auto& d = datasets[k];
    const auto name = d["dataset"].get<std::string>();
    CAPTURE(name);
    if (longbench_metric_for(name) == LongBenchMetric::code_sim && !ref["difflib"].get<bool>()) continue;
    std::vector<double> scores;
    for (size_t s = 0; s < d["predictions"].size(); ++s) {
      scores.push_back(longbench_sample_score(
          name, d["predictions"][s].get<std::string>(),
          d["answers"][s].get<std::vector<std::string>>(),
          d["all_classes"].get<std::vector<std::string>>()));
    }
    CHECK(longbench_dataset_score(scores) == ref["datasets"][k]["score"].get<double>());
    const auto e = longbench_e_scores(scores, d["lengths"].get<std::vector<int64_t>>());
    for (const auto& [bucket, value] : ref["datasets"][k]["e"].items()) {
      CAPTURE(bucket);
      if (value.is_null()) {
        CHECK(std::isnan(e.at(bucket)));
      } else {
        CHECK(e.at(bucket) == value.get<double>());
      }
    }
  }
}

TEST_CASE("Chinese metrics: gap to jieba segmentation is measured", "[eval][longbench][python]") {
  // The character-level stand-in is not jieba; this records how far apart they are on
  // sentence-like text and checks they agree where segmentation cannot matter.
  json cases = {{"zh", "jieba"}, {"metrics", json::array()}};
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"北京大学", "北京大学"},
      {"我们在北京大学学习。", "我们在北京学习"},
      {"中国人民的GPT4模型", "中国人民"},
      {"abc", "abc"}};
  for (const auto& [p, g] : pairs) {
    cases["metrics"].push_back(metric_case("qa_f1_zh_score", p, g));
    cases["metrics"].push_back(metric_case("rouge_zh_score", p, g));
  }
  json ref;
  std::string why;
  if (!run_reference(cases, "longbench_jieba", &ref, &why)) SEER_SKIP(why);
  double max_gap = 0.0;
  for (size_t i = 0; i < cases["metrics"].size(); ++i) {
    const double got = score_case(cases["metrics"][i]);
    const double official = ref["metrics"][i].get<double>();
    max_gap = std::max(max_gap, std::abs(got - official));
    const auto& c = cases["metrics"][i];
    if (c["prediction"] == c["ground_truth"]) {
      CAPTURE(c.dump());
      CHECK(got == Approx(official).margin(1e-9));   // identical strings score 1 either way
    }
  }
  WARN(fmt::format("largest |char-level - jieba| on the sample pairs: {:.4f}", max_gap));
  CHECK(max_gap <= 1.0);
}
