// The mass-optimal allocation of a block budget over groups against exhaustive search in float64:
// on random groups of odd sizes (empty ones included, scores with ties), every budget's counts
// sum to the budget, and wherever a Lagrange multiplier reaches the budget (each group at its own
// argmax of C(k) - lambda k) the mass equals the best any allocation reaches.
#include "catch.h"

#include "core/sparsity/mass_allocation.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <random>
#include <set>

using seer::core::mass_optimal_counts;
using seer::core::ranked_share;
using seer::core::RankedGroup;

namespace {

RankedGroup random_group(int64_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  RankedGroup g;
  for (int64_t i = 0; i < n; ++i) {
    const float s = u(rng);
    g.score.push_back(i % 3 == 0 ? std::round(s * 4.0f) / 4.0f : s);   // ties
    g.share.push_back(std::pow(u(rng), 3.0f));
  }
  return g;
}

// The largest summed share over every allocation with counts summing to `budget`.
double best_mass(const std::vector<RankedGroup>& groups, int64_t budget) {
  std::vector<std::vector<double>> curve;
  for (const auto& g : groups) {
    auto& c = curve.emplace_back();
    for (int64_t k = 0; k <= static_cast<int64_t>(g.score.size()); ++k) c.push_back(ranked_share(g, k));
  }
  double best = -1.0;
  std::function<void(size_t, int64_t, double)> walk = [&](size_t i, int64_t left, double mass) {
    if (i == groups.size()) {
      if (left == 0) best = std::max(best, mass);
      return;
    }
    for (int64_t k = 0; k < static_cast<int64_t>(curve[i].size()) && k <= left; ++k)
      walk(i + 1, left - k, mass + curve[i][k]);
  };
  walk(0, budget, 0.0);
  return best;
}

double mass_of(const std::vector<RankedGroup>& groups, const std::vector<int64_t>& counts) {
  double m = 0.0;
  for (size_t i = 0; i < groups.size(); ++i) m += ranked_share(groups[i], counts[i]);
  return m;
}

}  // namespace

TEST_CASE("mass-optimal counts match exhaustive search at every Lagrangian budget",
          "[gates][sparsity]") {
  const auto sizes = GENERATE(std::vector<int64_t>{5},
                              std::vector<int64_t>{3, 7},
                              std::vector<int64_t>{0, 4, 5},
                              std::vector<int64_t>{6, 1, 3, 5});
  std::mt19937 rng(17 + static_cast<unsigned>(sizes.size()));
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<RankedGroup> groups;
    int64_t total = 0;
    for (int64_t n : sizes) {
      groups.push_back(random_group(n, rng));
      total += n;
    }
    std::vector<int64_t> budgets;
    for (int64_t b = -1; b <= total + 1; ++b) budgets.push_back(b);
    const auto all = mass_optimal_counts(groups, budgets);
    REQUIRE(all.size() == budgets.size());
    for (size_t i = 0; i < budgets.size(); ++i) {
      CAPTURE(trial, budgets[i]);
      int64_t sum = 0;
      for (size_t g = 0; g < groups.size(); ++g) {
        CHECK(all[i][g] >= 0);
        CHECK(all[i][g] <= static_cast<int64_t>(groups[g].score.size()));
        sum += all[i][g];
      }
      CHECK(sum == std::clamp<int64_t>(budgets[i], 0, total));
    }

    // Budgets a multiplier reaches: each group at the smallest argmax of C(k) - lambda k.
    std::set<int64_t> lagrangian;
    for (double lambda = 0.0005; lambda < 1.0; lambda *= 1.07) {
      int64_t b = 0;
      for (const auto& g : groups) {
        int64_t arg = 0;
        double top = 0.0;
        for (int64_t k = 1; k <= static_cast<int64_t>(g.score.size()); ++k) {
          const double v = ranked_share(g, k) - lambda * static_cast<double>(k);
          if (v > top + 1e-12) {
            top = v;
            arg = k;
          }
        }
        b += arg;
      }
      lagrangian.insert(b);
    }
    REQUIRE(lagrangian.size() >= 2);
    for (int64_t b : lagrangian) {
      CAPTURE(trial, b);
      const auto counts = mass_optimal_counts(groups, {b})[0];
      CHECK(mass_of(groups, counts) == Approx(best_mass(groups, b)).margin(1e-9));
    }
  }
}

TEST_CASE("mass-optimal counts with a perfect ranking keep the largest shares",
          "[gates][sparsity]") {
  // Scores equal to shares: every curve is concave, so every budget is optimal, and the kept set
  // is the budget's largest shares over all groups.
  std::mt19937 rng(5);
  std::vector<RankedGroup> groups;
  std::vector<double> all;
  for (int64_t n : {9, 2, 13}) {
    RankedGroup g = random_group(n, rng);
    g.score.assign(g.share.begin(), g.share.end());
    all.insert(all.end(), g.share.begin(), g.share.end());
    groups.push_back(g);
  }
  std::sort(all.begin(), all.end(), std::greater<double>());
  for (int64_t b = 0; b <= static_cast<int64_t>(all.size()); ++b) {
    CAPTURE(b);
    const double top = std::accumulate(all.begin(), all.begin() + b, 0.0);
    CHECK(mass_of(groups, mass_optimal_counts(groups, {b})[0]) == Approx(top).margin(1e-9));
  }
}

TEST_CASE("mass-optimal counts refuse groups whose lengths disagree", "[gates][sparsity]") {
  RankedGroup g;
  g.score = {1.0f, 2.0f};
  g.share = {0.5f};
  CHECK_THROWS_WITH(mass_optimal_counts({g}, {1}), Catch::Contains("2 scores and 1 shares"));
}
