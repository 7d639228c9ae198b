// Port of LongBench's eval.py dispatch and aggregation (see longbench_scorer.h).
#include "data/metrics/longbench_scorer.h"

#include "data/data_error.h"
#include "data/metrics/longbench_metrics.h"
#include "data/metrics/py_string.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace seer::data {

namespace {

const std::vector<std::pair<std::string, LongBenchMetric>>& dataset2metric() {
  using M = LongBenchMetric;
  static const std::vector<std::pair<std::string, LongBenchMetric>> table = {
      {"narrativeqa", M::qa_f1},         {"qasper", M::qa_f1},
      {"multifieldqa_en", M::qa_f1},     {"multifieldqa_zh", M::qa_f1_zh},
      {"hotpotqa", M::qa_f1},            {"2wikimqa", M::qa_f1},
      {"musique", M::qa_f1},             {"dureader", M::rouge_zh},
      {"gov_report", M::rouge},          {"qmsum", M::rouge},
      {"multi_news", M::rouge},          {"vcsum", M::rouge_zh},
      {"trec", M::classification},       {"triviaqa", M::qa_f1},
      {"samsum", M::rouge},              {"lsht", M::classification},
      {"passage_retrieval_en", M::retrieval}, {"passage_count", M::count},
      {"passage_retrieval_zh", M::retrieval_zh}, {"lcc", M::code_sim},
      {"repobench-p", M::code_sim}};
  return table;
}

std::string base_name(const std::string& dataset) {
  const std::string suffix = "_e";
  if (dataset.size() > suffix.size() &&
      dataset.compare(dataset.size() - suffix.size(), suffix.size(), suffix) == 0) {
    return dataset.substr(0, dataset.size() - suffix.size());
  }
  return dataset;
}

double rounded_mean_percent(const std::vector<double>& scores) {
  if (scores.empty()) return std::numeric_limits<double>::quiet_NaN();
  double total = 0.0;
  for (double s : scores) total += s;
  return py::round(100 * total / static_cast<double>(scores.size()), 2);
}

}  // namespace

std::vector<std::string> longbench_datasets() {
  std::vector<std::string> names;
  for (const auto& [name, metric] : dataset2metric()) names.push_back(name);
  return names;
}

LongBenchMetric longbench_metric_for(const std::string& dataset) {
  const std::string name = base_name(dataset);
  for (const auto& [known, metric] : dataset2metric()) {
    if (known == name) return metric;
  }
  std::string known;
  for (const auto& n : longbench_datasets()) known += (known.empty() ? "" : " | ") + n;
  throw DataError(fmt::format("LongBench dataset '{}': no metric; expected {}", dataset, known));
}

const char* longbench_metric_name(LongBenchMetric metric) {
  switch (metric) {
    case LongBenchMetric::qa_f1: return "qa_f1_score";
    case LongBenchMetric::qa_f1_zh: return "qa_f1_zh_score";
    case LongBenchMetric::rouge: return "rouge_score";
    case LongBenchMetric::rouge_zh: return "rouge_zh_score";
    case LongBenchMetric::classification: return "classification_score";
    case LongBenchMetric::retrieval: return "retrieval_score";
    case LongBenchMetric::retrieval_zh: return "retrieval_zh_score";
    case LongBenchMetric::count: return "count_score";
    case LongBenchMetric::code_sim: return "code_sim_score";
  }
  return "?";
}

double longbench_metric(LongBenchMetric metric, const std::string& prediction,
                        const std::string& ground_truth,
                        const std::vector<std::string>& all_classes) {
  switch (metric) {
    case LongBenchMetric::qa_f1: return qa_f1_score(prediction, ground_truth);
    case LongBenchMetric::qa_f1_zh: return qa_f1_zh_score(prediction, ground_truth);
    case LongBenchMetric::rouge: return rouge_score(prediction, ground_truth);
    case LongBenchMetric::rouge_zh: return rouge_zh_score(prediction, ground_truth);
    case LongBenchMetric::classification:
      return classification_score(prediction, ground_truth, all_classes);
    case LongBenchMetric::retrieval: return retrieval_score(prediction, ground_truth);
    case LongBenchMetric::retrieval_zh: return retrieval_zh_score(prediction, ground_truth);
    case LongBenchMetric::count: return count_score(prediction, ground_truth);
    case LongBenchMetric::code_sim: return code_sim_score(prediction, ground_truth);
  }
  return 0.0;
}

double longbench_sample_score(const std::string& dataset, const std::string& prediction,
                              const std::vector<std::string>& answers,
                              const std::vector<std::string>& all_classes) {
  const LongBenchMetric metric = longbench_metric_for(dataset);
  const std::string name = base_name(dataset);
  std::string pred = prediction;
  if (name == "trec" || name == "triviaqa" || name == "samsum" || name == "lsht") {
    pred = py::encode(py::split(py::lstrip(py::decode(prediction), U'\n'), U'\n').front());
  }
  double score = 0.0;
  for (const auto& answer : answers) {
    score = std::max(score, longbench_metric(metric, pred, answer, all_classes));
  }
  return score;
}

double longbench_dataset_score(const std::vector<double>& sample_scores) {
  return rounded_mean_percent(sample_scores);
}

std::string longbench_e_bucket(int64_t length) {
  if (length < 4000) return "0-4k";
  if (length < 8000) return "4-8k";
  return "8k+";
}

std::map<std::string, double> longbench_e_scores(const std::vector<double>& sample_scores,
                                                 const std::vector<int64_t>& lengths) {
  if (sample_scores.size() != lengths.size()) {
    throw DataError(fmt::format("LongBench-E scores: {} scores but {} lengths",
                                sample_scores.size(), lengths.size()));
  }
  std::map<std::string, std::vector<double>> buckets = {{"0-4k", {}}, {"4-8k", {}}, {"8k+", {}}};
  for (size_t i = 0; i < lengths.size(); ++i) {
    buckets[longbench_e_bucket(lengths[i])].push_back(sample_scores[i]);
  }
  std::map<std::string, double> out;
  for (const auto& [bucket, scores] : buckets) out[bucket] = rounded_mean_percent(scores);
  return out;
}

}  // namespace seer::data
