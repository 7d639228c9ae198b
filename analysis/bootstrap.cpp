#include "analysis/bootstrap.h"
#include "core/random/splitmix64.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>

namespace seer::analysis {
namespace {

// Uniform in [0, n) by Lemire's multiply-shift with rejection: the same on every standard
// library (std::uniform_int_distribution is implementation-defined, so seeds would not carry).
uint64_t bounded(std::mt19937_64& rng, uint64_t n) {
  const uint64_t threshold = (0 - n) % n;   // 2^64 mod n
  for (;;) {
    const unsigned __int128 m = static_cast<unsigned __int128>(rng()) * n;
    if (static_cast<uint64_t>(m) >= threshold) return static_cast<uint64_t>(m >> 64);
  }
}

void check_options(const BootstrapOptions& o) {
  if (o.resamples < 1) {
    throw std::invalid_argument(fmt::format("bootstrap: resamples = {}, expected >= 1", o.resamples));
  }
  if (!(o.level > 0.0 && o.level < 1.0)) {
    throw std::invalid_argument(fmt::format("bootstrap: level = {}, expected in (0, 1)", o.level));
  }
}

void check_tasks(const TaskScores& s, const std::vector<size_t>& tasks) {
  if (tasks.empty()) throw std::invalid_argument("bootstrap: no tasks to average");
  for (const size_t t : tasks) {
    if (t >= s.size()) {
      throw std::invalid_argument(fmt::format("bootstrap: task index {} out of range ({} tasks)", t,
                                              s.size()));
    }
    if (s[t].empty()) throw std::invalid_argument(fmt::format("bootstrap: task {} has no samples", t));
  }
}

double mean(const std::vector<double>& v) {
  double sum = 0.0;
  for (const double x : v) sum += x;
  return sum / static_cast<double>(v.size());
}

// Replicate means of one task for each score vector in `arms` (all of task t's size), from the
// task's own draw sequence: out[a][r] for arm a, replicate r.
std::vector<std::vector<double>> task_replicate_means(const std::vector<const std::vector<double>*>& arms,
                                                      size_t t, const BootstrapOptions& o) {
  const size_t n = arms.front()->size();
  std::mt19937_64 rng(core::splitmix64(o.seed ^ core::splitmix64(static_cast<uint64_t>(t) + 1)));
  std::vector<std::vector<double>> out(arms.size(), std::vector<double>(o.resamples));
  std::vector<double> sums(arms.size());
  for (int64_t r = 0; r < o.resamples; ++r) {
    std::fill(sums.begin(), sums.end(), 0.0);
    for (size_t i = 0; i < n; ++i) {
      const uint64_t j = bounded(rng, n);
      for (size_t a = 0; a < arms.size(); ++a) sums[a] += (*arms[a])[j];
    }
    for (size_t a = 0; a < arms.size(); ++a) out[a][r] = sums[a] / static_cast<double>(n);
  }
  return out;
}

Interval interval_of(double estimate, std::vector<double> replicates, double level) {
  const double tail = (1.0 - level) / 2.0;
  std::sort(replicates.begin(), replicates.end());
  Interval i;
  i.estimate = estimate;
  i.lo = quantile(replicates, tail);
  i.hi = quantile(std::move(replicates), 1.0 - tail);
  return i;
}

// Estimate and replicates of sum_a weight[a] * average(arm a) over `tasks`.
std::vector<double> combined_replicates(const std::vector<const TaskScores*>& arms,
                                        const std::vector<double>& weight,
                                        const std::vector<size_t>& tasks,
                                        const BootstrapOptions& o) {
  std::vector<double> out(o.resamples + 1, 0.0);
  const double per_task = 1.0 / static_cast<double>(tasks.size());
  for (const size_t t : tasks) {
    std::vector<const std::vector<double>*> task_arms;
    for (const TaskScores* s : arms) task_arms.push_back(&(*s)[t]);
    const auto reps = task_replicate_means(task_arms, t, o);
    for (size_t a = 0; a < arms.size(); ++a) {
      out[0] += weight[a] * per_task * mean((*arms[a])[t]);
      for (int64_t r = 0; r < o.resamples; ++r) out[r + 1] += weight[a] * per_task * reps[a][r];
    }
  }
  return out;
}

Interval interval_from(std::vector<double> estimate_and_replicates, double level) {
  const double estimate = estimate_and_replicates.front();
  estimate_and_replicates.erase(estimate_and_replicates.begin());
  return interval_of(estimate, std::move(estimate_and_replicates), level);
}

}  // namespace

double quantile(std::vector<double> values, double p) {
  if (values.empty()) throw std::invalid_argument("quantile: no values");
  if (!(p >= 0.0 && p <= 1.0)) throw std::invalid_argument(fmt::format("quantile: p = {}", p));
  std::sort(values.begin(), values.end());
  const double h = p * static_cast<double>(values.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(h));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (h - static_cast<double>(lo)) * (values[hi] - values[lo]);
}

std::vector<double> bootstrap_average_replicates(const TaskScores& scores,
                                                 const std::vector<size_t>& tasks,
                                                 const BootstrapOptions& opts) {
  check_options(opts);
  check_tasks(scores, tasks);
  return combined_replicates({&scores}, {1.0}, tasks, opts);
}

std::vector<Interval> bootstrap_task_means(const TaskScores& scores, const BootstrapOptions& opts) {
  check_options(opts);
  std::vector<Interval> out;
  for (size_t t = 0; t < scores.size(); ++t) {
    check_tasks(scores, {t});
    out.push_back(interval_from(combined_replicates({&scores}, {1.0}, {t}, opts), opts.level));
  }
  return out;
}

Interval bootstrap_average(const TaskScores& scores, const std::vector<size_t>& tasks,
                           const BootstrapOptions& opts) {
  return interval_from(bootstrap_average_replicates(scores, tasks, opts), opts.level);
}

Interval bootstrap_paired_difference(const TaskScores& a, const TaskScores& b,
                                     const std::vector<size_t>& tasks,
                                     const BootstrapOptions& opts) {
  check_options(opts);
  check_tasks(a, tasks);
  check_tasks(b, tasks);
  for (const size_t t : tasks) {
    if (a[t].size() != b[t].size()) {
      throw std::invalid_argument(fmt::format(
          "bootstrap: paired difference needs the same samples, task {} has {} and {}", t,
          a[t].size(), b[t].size()));
    }
  }
  return interval_from(combined_replicates({&a, &b}, {1.0, -1.0}, tasks, opts), opts.level);
}

}  // namespace seer::analysis
