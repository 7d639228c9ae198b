// analysis/bootstrap: the stratified percentile bootstrap against distributions known exactly
// (a Bernoulli task's resampled mean is Binomial(n, p_hat) / n; tiny tasks enumerated index tuple
// by index tuple), its coverage, determinism under a seed, and the paired difference against the
// unpaired one.
#include "catch.h"
#include "analysis/bootstrap.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>
#include <random>

using namespace seer::analysis;
using seer::test::Contains;

namespace {

std::vector<double> bernoulli_scores(int64_t n, int64_t ones, uint64_t seed) {
  std::vector<double> v(n, 0.0);
  std::fill(v.begin(), v.begin() + ones, 1.0);
  std::shuffle(v.begin(), v.end(), std::mt19937_64(seed));
  return v;
}

std::vector<double> uniform_scores(int64_t n, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// Smallest k with P(Binomial(n, p) <= k) >= q, by the float64 pmf.
int64_t binomial_quantile(int64_t n, double p, double q) {
  double cdf = 0.0;
  for (int64_t k = 0; k <= n; ++k) {
    cdf += std::exp(std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0) +
                    k * std::log(p) + (n - k) * std::log1p(-p));
    if (cdf >= q) return k;
  }
  return n;
}

double exact_mean_of_means(const TaskScores& s) {
  double sum = 0.0;
  for (const auto& t : s) sum += std::accumulate(t.begin(), t.end(), 0.0) / t.size();
  return sum / s.size();
}

// Every equally likely resample of every task, enumerated: value of the mean of task means ->
// probability.
std::map<double, double> exact_bootstrap_distribution(const TaskScores& s) {
  std::map<double, double> dist;
  std::vector<std::vector<size_t>> idx(s.size());
  for (size_t t = 0; t < s.size(); ++t) idx[t].assign(s[t].size(), 0);
  double total = 1.0;
  for (const auto& t : s) total *= std::pow(static_cast<double>(t.size()), static_cast<double>(t.size()));
  std::function<void(size_t, size_t)> walk = [&](size_t t, size_t i) {
    if (t == s.size()) {
      double avg = 0.0;
      for (size_t u = 0; u < s.size(); ++u) {
        double m = 0.0;
        for (const size_t j : idx[u]) m += s[u][j];
        avg += m / s[u].size();
      }
      dist[avg / s.size()] += 1.0 / total;
      return;
    }
    if (i == s[t].size()) return walk(t + 1, 0);
    for (size_t j = 0; j < s[t].size(); ++j) {
      idx[t][i] = j;
      walk(t, i + 1);
    }
  };
  walk(0, 0);
  return dist;
}

std::vector<size_t> all_tasks(const TaskScores& s) {
  std::vector<size_t> v(s.size());
  std::iota(v.begin(), v.end(), 0);
  return v;
}

}  // namespace

TEST_CASE("quantile is the type-7 (linear) quantile", "[eval][bootstrap]") {
  CHECK(quantile({4, 1, 3, 2}, 0.5) == Approx(2.5));
  CHECK(quantile({4, 1, 3, 2}, 0.25) == Approx(1.75));
  CHECK(quantile({4, 1, 3, 2}, 0.0) == 1.0);
  CHECK(quantile({4, 1, 3, 2}, 1.0) == 4.0);
  CHECK(quantile({7}, 0.975) == 7.0);
  CHECK_THROWS_WITH(quantile({}, 0.5), Contains("no values"));
}

TEST_CASE("bootstrap interval of a Bernoulli mean matches Binomial(n, p) / n", "[eval][bootstrap]") {
  const int64_t n = GENERATE(25, 101, 400);
  const double p = GENERATE(0.2, 0.5);
  CAPTURE(n, p);
  const int64_t ones = std::llround(p * n);
  const double p_hat = static_cast<double>(ones) / n;
  const TaskScores s = {bernoulli_scores(n, ones, 11 * n)};
  BootstrapOptions o;
  o.resamples = 4000;
  o.seed = 5;
  const Interval ci = bootstrap_average(s, {0}, o);
  CHECK(ci.estimate == Approx(p_hat));
  // Exact quantiles of the resampled mean; a Monte Carlo quantile from 4000 draws lands within
  // ~2 standard errors (SE ~ sqrt(q(1-q)/R) / density) plus one support step 1/n of them.
  const double sd = std::sqrt(p_hat * (1 - p_hat) / n);
  const double density = std::exp(-0.5 * 1.96 * 1.96) / std::sqrt(2 * M_PI) / sd;
  const double tol = 3.0 * std::sqrt(0.025 * 0.975 / o.resamples) / density + 1.0 / n;
  CHECK(ci.lo == Approx(binomial_quantile(n, p_hat, 0.025) / double(n)).margin(tol));
  CHECK(ci.hi == Approx(binomial_quantile(n, p_hat, 0.975) / double(n)).margin(tol));
  // And the normal approximation p +- 1.96 sd, looser for small n (skew, discreteness).
  CHECK(ci.lo == Approx(p_hat - 1.96 * sd).margin(tol + 0.5 * sd));
  CHECK(ci.hi == Approx(p_hat + 1.96 * sd).margin(tol + 0.5 * sd));
}

TEST_CASE("bootstrap replicates follow the enumerated bootstrap distribution", "[eval][bootstrap]") {
  const std::vector<size_t> sizes = GENERATE(std::vector<size_t>{3}, std::vector<size_t>{2, 3},
                                             std::vector<size_t>{1, 2, 3}, std::vector<size_t>{4, 1});
  CAPTURE(sizes);
  std::mt19937_64 rng(17 + sizes.size() * 31 + sizes[0]);
  TaskScores s;
  for (const size_t n : sizes) s.push_back(uniform_scores(static_cast<int64_t>(n), rng));
  BootstrapOptions o;
  o.resamples = 20000;
  o.seed = 3;
  const auto reps = bootstrap_average_replicates(s, all_tasks(s), o);
  REQUIRE(reps.size() == static_cast<size_t>(o.resamples) + 1);
  CHECK(reps[0] == Approx(exact_mean_of_means(s)).epsilon(1e-12));
  const auto dist = exact_bootstrap_distribution(s);
  // The empirical CDF at every support point within 4 binomial standard errors of the exact one.
  std::vector<double> draws(reps.begin() + 1, reps.end());
  std::sort(draws.begin(), draws.end());
  // Values equal up to rounding (sums taken in another order) count as one support point.
  double cdf = 0.0;
  for (auto it = dist.begin(); it != dist.end(); ++it) {
    cdf += it->second;
    const auto next = std::next(it);
    if (next != dist.end() && next->first - it->first < 1e-9) continue;
    const double upto = it->first + 1e-9;
    const double emp = static_cast<double>(std::upper_bound(draws.begin(), draws.end(), upto) -
                                           draws.begin()) / draws.size();
    CAPTURE(it->first, cdf, emp);
    CHECK(std::abs(emp - cdf) <= 4.0 * std::sqrt(std::max(0.0, cdf * (1 - cdf)) / o.resamples) + 1e-9);
  }
  // The interval is the type-7 quantile pair of those replicates.
  const Interval ci = bootstrap_average(s, all_tasks(s), o);
  CHECK(ci.lo == quantile(draws, 0.025));
  CHECK(ci.hi == quantile(draws, 0.975));
}

TEST_CASE("bootstrap 95% interval covers a Bernoulli mean about 95% of the time", "[eval][bootstrap]") {
  // 400 data sets of 100 draws of Bernoulli(0.3): the percentile interval covers 0.3 in ~94% of
  // them (SE of the rate ~1.2%); a wrong level or a biased resampler would leave [0.90, 0.98].
  std::mt19937_64 rng(2024);
  std::bernoulli_distribution coin(0.3);
  BootstrapOptions o;
  o.resamples = 1000;
  int covered = 0;
  const int trials = 400;
  for (int k = 0; k < trials; ++k) {
    std::vector<double> v(100);
    for (auto& x : v) x = coin(rng) ? 1.0 : 0.0;
    o.seed = static_cast<uint64_t>(k);
    const Interval ci = bootstrap_average({v}, {0}, o);
    covered += ci.lo <= 0.3 && 0.3 <= ci.hi;
  }
  const double rate = static_cast<double>(covered) / trials;
  CAPTURE(rate);
  CHECK(rate >= 0.90);
  CHECK(rate <= 0.98);
}

TEST_CASE("bootstrap is deterministic under its seed and the task intervals agree with the average",
          "[eval][bootstrap]") {
  std::mt19937_64 rng(99);
  TaskScores s = {uniform_scores(25, rng), uniform_scores(7, rng), uniform_scores(25, rng)};
  BootstrapOptions o;
  o.seed = 42;
  const auto a = bootstrap_average_replicates(s, {0, 2}, o);
  CHECK(a == bootstrap_average_replicates(s, {0, 2}, o));
  o.seed = 43;
  CHECK(a != bootstrap_average_replicates(s, {0, 2}, o));
  o.seed = 42;
  // A task's draws do not depend on which other tasks are averaged with it.
  const auto tasks = bootstrap_task_means(s, o);
  REQUIRE(tasks.size() == 3);
  for (size_t t = 0; t < 3; ++t) {
    CAPTURE(t);
    const Interval one = bootstrap_average(s, {t}, o);
    CHECK(tasks[t].lo == one.lo);
    CHECK(tasks[t].hi == one.hi);
    CHECK(tasks[t].lo <= tasks[t].estimate);
    CHECK(tasks[t].estimate <= tasks[t].hi);
  }
  const auto t0 = bootstrap_average_replicates(s, {0}, o);
  const auto t2 = bootstrap_average_replicates(s, {2}, o);
  for (size_t r = 0; r < a.size(); ++r) CHECK(a[r] == Approx((t0[r] + t2[r]) / 2).epsilon(1e-12));
}

TEST_CASE("paired bootstrap difference resamples both methods at the same indices", "[eval][bootstrap]") {
  std::mt19937_64 rng(7);
  const size_t n = GENERATE(5, 25);
  CAPTURE(n);
  TaskScores dense = {uniform_scores(n, rng), uniform_scores(n, rng), uniform_scores(n, rng)};
  BootstrapOptions o;
  o.seed = 1;
  const std::vector<size_t> tasks = {0, 1, 2};

  SECTION("a constant shift has a zero-width paired interval") {
    TaskScores shifted = dense;
    for (auto& t : shifted) for (auto& x : t) x += 0.1;
    const Interval d = bootstrap_paired_difference(shifted, dense, tasks, o);
    CHECK(d.estimate == Approx(0.1));
    CHECK(d.lo == Approx(0.1));
    CHECK(d.hi == Approx(0.1));
  }
  SECTION("paired = replicate-wise difference of the two averages; narrower than unpaired") {
    std::normal_distribution<double> noise(0.0, 0.05);
    TaskScores close = dense;
    for (auto& t : close) for (auto& x : t) x += noise(rng);
    const Interval d = bootstrap_paired_difference(close, dense, tasks, o);
    const auto ra = bootstrap_average_replicates(close, tasks, o);
    const auto rb = bootstrap_average_replicates(dense, tasks, o);
    std::vector<double> diff;
    for (size_t r = 1; r < ra.size(); ++r) diff.push_back(ra[r] - rb[r]);
    CHECK(d.estimate == Approx(ra[0] - rb[0]).epsilon(1e-12));
    CHECK(d.lo == Approx(quantile(diff, 0.025)).epsilon(1e-12));
    CHECK(d.hi == Approx(quantile(diff, 0.975)).epsilon(1e-12));
    // Unpaired: the two methods resampled independently (another seed for one of them).
    BootstrapOptions other = o;
    other.seed = 2;
    const auto rb_indep = bootstrap_average_replicates(dense, tasks, other);
    std::vector<double> unpaired;
    for (size_t r = 1; r < ra.size(); ++r) unpaired.push_back(ra[r] - rb_indep[r]);
    const double unpaired_width = quantile(unpaired, 0.975) - quantile(unpaired, 0.025);
    CAPTURE(d.hi - d.lo, unpaired_width);
    CHECK(d.hi - d.lo < 0.5 * unpaired_width);
  }
}

TEST_CASE("bootstrap rejects bad input with a message", "[eval][bootstrap]") {
  const TaskScores s = {{1.0, 0.0}, {}};
  BootstrapOptions o;
  CHECK_THROWS_WITH(bootstrap_average(s, {}, o), Contains("no tasks"));
  CHECK_THROWS_WITH(bootstrap_average(s, {2}, o), Contains("task index 2 out of range"));
  CHECK_THROWS_WITH(bootstrap_average(s, {1}, o), Contains("task 1 has no samples"));
  CHECK_THROWS_WITH(bootstrap_task_means(s, o), Contains("task 1 has no samples"));
  CHECK_THROWS_WITH(bootstrap_paired_difference({{1.0, 0.0}}, {{1.0}}, {0}, o),
                    Contains("same samples"));
  o.level = 1.0;
  CHECK_THROWS_WITH(bootstrap_average(s, {0}, o), Contains("level"));
  o.level = 0.95;
  o.resamples = 0;
  CHECK_THROWS_WITH(bootstrap_average(s, {0}, o), Contains("resamples"));
}
