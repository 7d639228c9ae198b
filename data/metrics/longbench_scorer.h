// LongBench's eval.py: the metric per dataset, the first-line rule for few-shot datasets, the
// max over a sample's answers, the dataset score (mean x 100, rounded to 2 decimals) and the
// LongBench-E length buckets (0-4k, 4-8k, 8k+ by the sample's `length` field).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace seer::data {

enum class LongBenchMetric {
  qa_f1, qa_f1_zh, rouge, rouge_zh, classification, retrieval, retrieval_zh, count, code_sim
};

// The metric eval.py uses for `dataset` (a LongBench or LongBench-E name, "_e" suffix allowed).
// Throws DataError naming the dataset and listing the known ones.
LongBenchMetric longbench_metric_for(const std::string& dataset);
const char* longbench_metric_name(LongBenchMetric metric);
std::vector<std::string> longbench_datasets();   // the 21 datasets of dataset2metric

double longbench_metric(LongBenchMetric metric, const std::string& prediction,
                        const std::string& ground_truth, const std::vector<std::string>& all_classes);

// One sample's score in [0, 1]: first line only for trec / triviaqa / samsum / lsht, then the
// max (starting from 0) over the answers.
double longbench_sample_score(const std::string& dataset, const std::string& prediction,
                              const std::vector<std::string>& answers,
                              const std::vector<std::string>& all_classes);

// scorer(): round(100 * mean, 2). NaN for no samples.
double longbench_dataset_score(const std::vector<double>& sample_scores);

// "0-4k" (< 4000), "4-8k" (< 8000) or "8k+".
std::string longbench_e_bucket(int64_t length);
// scorer_e(): per bucket round(100 * mean, 2); an empty bucket is NaN (np.mean of []).
std::map<std::string, double> longbench_e_scores(const std::vector<double>& sample_scores,
                                                 const std::vector<int64_t>& lengths);

}  // namespace seer::data
