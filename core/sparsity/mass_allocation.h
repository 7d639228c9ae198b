// How many blocks each group (a (layer, head)) keeps so that, with a fixed total number of kept
// blocks, the kept share of G's mass is largest, given the order in which the gate would keep a
// group's blocks (its scores, highest first). A group's curve C(k) = the G share of its first k
// blocks in that order; the allocation walks the upper concave hull of every curve and takes hull
// segments steepest first (the Lagrangian solution: every group ends where its marginal mass per
// block falls to a common level), the last one partly so the total is exactly the budget.
//
// It is optimal whenever the budget ends on a hull vertex, and within that last segment's
// non-concavity otherwise. Where the gate ranks a head's blocks well its curve is steep and the
// head gives up blocks cheaply; where it ranks them poorly the head keeps more: the oracle's
// budget per head (one threshold on G) is the same rule with G's own order, which the gate lacks.
#pragma once

#include <cstdint>
#include <vector>

namespace seer::core {

struct RankedGroup {
  std::vector<float> score;   // the ranking score per block (higher = kept first)
  std::vector<float> share;   // the block's share of G's row mass (>= 0), same length
};

// For each budget, the blocks per group whose summed share is largest at sum(counts) == budget
// (clamped to [0, total blocks]): result[b][group]. Ties in score are broken by larger share first
// (an order a threshold cannot see: callers cut at the nearest count a threshold can make).
std::vector<std::vector<int64_t>> mass_optimal_counts(const std::vector<RankedGroup>& groups,
                                                      const std::vector<int64_t>& budgets);

// The summed share of the first `count` blocks of `group` in the order mass_optimal_counts uses.
double ranked_share(const RankedGroup& group, int64_t count);

}  // namespace seer::core
