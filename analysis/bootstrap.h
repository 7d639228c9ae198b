// Percentile bootstrap intervals for benchmark scores built from per-sample scores grouped by task
// (RULER: a task's score is the mean of its samples, a method's score the mean of its task scores).
//
// Resampling is stratified by task: one replicate draws, for every task on its own, as many sample
// indices (with replacement) as the task has samples. The draws of task t depend only on (seed, t,
// its sample count), never on the scores, so every statistic computed with one seed sees the same
// resamples: the task intervals and the average agree, and two methods scored on the same samples
// (the same prompts) are resampled together, which is the paired difference. The interval is the
// percentile one (type-7 quantiles of the replicates at (1 - level) / 2 and (1 + level) / 2).
//
//   BootstrapOptions o;                      // 2000 resamples, seed 0, 95%
//   Interval avg = bootstrap_average(gates, {0, 1, 4}, o);
//   Interval diff = bootstrap_paired_difference(gates, dense, {0, 1, 4}, o);   // gates - dense
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace seer::analysis {

struct Interval {
  double estimate = 0.0;   // the statistic on the samples as observed
  double lo = 0.0;
  double hi = 0.0;
};

struct BootstrapOptions {
  int64_t resamples = 2000;
  uint64_t seed = 0;
  double level = 0.95;
};

// scores[t][i]: the score of sample i of task t (any scale; the statistics keep it).
using TaskScores = std::vector<std::vector<double>>;

// Mean of the task means over `tasks` (indices into `scores`), for replicate draws; the estimate
// first, then one value per resample (size resamples + 1). Exposed for the tests.
std::vector<double> bootstrap_average_replicates(const TaskScores& scores,
                                                 const std::vector<std::size_t>& tasks,
                                                 const BootstrapOptions& opts);

// Interval of each task's mean.
std::vector<Interval> bootstrap_task_means(const TaskScores& scores, const BootstrapOptions& opts);

// Interval of the mean of the task means over `tasks` (an empty list is an error; pass every
// index for the plain average).
Interval bootstrap_average(const TaskScores& scores, const std::vector<std::size_t>& tasks,
                           const BootstrapOptions& opts);

// Interval of average(a) - average(b) over `tasks`, with a and b resampled at the same indices
// (sample i of task t in a and in b is the same prompt). a and b must have the same shape.
Interval bootstrap_paired_difference(const TaskScores& a, const TaskScores& b,
                                     const std::vector<std::size_t>& tasks,
                                     const BootstrapOptions& opts);

// Type-7 (linear interpolation) quantile of `values` at p in [0, 1]; `values` need not be sorted.
double quantile(std::vector<double> values, double p);

}  // namespace seer::analysis
