#include "core/sparsity/mass_allocation.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>

namespace seer::core {
namespace {

// The group's shares in keep order: score descending, larger share first among equal scores.
std::vector<double> shares_in_keep_order(const RankedGroup& g) {
  if (g.score.size() != g.share.size())
    throw std::invalid_argument("mass_optimal_counts: a group has " +
                                std::to_string(g.score.size()) + " scores and " +
                                std::to_string(g.share.size()) + " shares");
  std::vector<size_t> order(g.score.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return g.score[a] != g.score[b] ? g.score[a] > g.score[b] : g.share[a] > g.share[b];
  });
  std::vector<double> out(order.size());
  for (size_t i = 0; i < order.size(); ++i) out[i] = g.share[order[i]];
  return out;
}

struct Segment {
  size_t group;
  int64_t from, to;   // counts at the segment's ends
  double slope;       // share per block along it
};

// The segments of the upper concave hull of (k, C(k)), k = 0 .. n, in order of k.
void append_hull_segments(size_t group, const std::vector<double>& shares,
                          std::vector<Segment>& out) {
  const int64_t n = static_cast<int64_t>(shares.size());
  std::vector<double> c(n + 1, 0.0);
  for (int64_t k = 0; k < n; ++k) c[k + 1] = c[k] + shares[k];
  std::vector<int64_t> hull;   // vertex counts
  for (int64_t k = 0; k <= n; ++k) {
    // Drop the last vertex while it lies on or below the chord from the one before it to k.
    while (hull.size() >= 2) {
      const int64_t a = hull[hull.size() - 2], b = hull.back();
      const double cross = (c[b] - c[a]) * static_cast<double>(k - a) -
                           (c[k] - c[a]) * static_cast<double>(b - a);
      if (cross > 0) break;
      hull.pop_back();
    }
    hull.push_back(k);
  }
  for (size_t i = 1; i < hull.size(); ++i) {
    const int64_t a = hull[i - 1], b = hull[i];
    out.push_back({group, a, b, (c[b] - c[a]) / static_cast<double>(b - a)});
  }
}

}  // namespace

double ranked_share(const RankedGroup& group, int64_t count) {
  const std::vector<double> s = shares_in_keep_order(group);
  const int64_t n = std::clamp<int64_t>(count, 0, static_cast<int64_t>(s.size()));
  return std::accumulate(s.begin(), s.begin() + n, 0.0);
}

std::vector<std::vector<int64_t>> mass_optimal_counts(const std::vector<RankedGroup>& groups,
                                                      const std::vector<int64_t>& budgets) {
  std::vector<Segment> segments;
  int64_t total = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    append_hull_segments(g, shares_in_keep_order(groups[g]), segments);
    total += static_cast<int64_t>(groups[g].score.size());
  }
  // Steepest first; a group's own segments are strictly less steep along k, so the stable order
  // of equal slopes (group, then k) never takes a segment before its predecessor.
  std::stable_sort(segments.begin(), segments.end(),
                   [](const Segment& a, const Segment& b) { return a.slope > b.slope; });
  std::vector<std::vector<int64_t>> out;
  for (int64_t budget : budgets) {
    std::vector<int64_t>& counts = out.emplace_back(groups.size(), 0);
    int64_t left = std::clamp<int64_t>(budget, 0, total);
    for (const Segment& s : segments) {
      if (left == 0) break;
      const int64_t take = std::min(left, s.to - s.from);
      counts[s.group] = s.from + take;
      left -= take;
    }
  }
  return out;
}

}  // namespace seer::core
