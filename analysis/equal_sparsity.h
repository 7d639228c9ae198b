// Methods compared at equal measured sparsity: a sweep measures each method family (a method with
// its list-valued key swept) at the sparsities its settings happen to reach; this interpolates
// every family's log-perplexity linearly in measured sparsity to common targets (50 / 70 / 80 /
// 90 / 95%), with the two measured points that bracket each target beside it. A target outside a
// family's measured range is not extrapolated: it stays empty, with the reason. Points of one
// family at exactly the same sparsity count as one point (their mean log-perplexity). Families
// measured only at sparsity 0 (dense) are the reference each row's rise is given against.
// Written as equal_sparsity.md / .csv / .json by the sweep stage.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace seer::analysis {

struct MeasuredPoint {
  std::string label;     // the setting, e.g. "gate tau=0.01"
  double sparsity = 0;   // measured, in [0, 1]
  double ppl = 0;
};

struct SparsityEstimate {
  double target = 0;
  std::optional<double> ppl;            // exp of the interpolated log-perplexity
  std::optional<MeasuredPoint> below;   // bracketing points (the same point when one sits on
  std::optional<MeasuredPoint> above;   // the target)
  std::string why;                      // why there is no estimate
};

// Interpolates log(ppl) linearly in sparsity at each target. Points need not be sorted.
std::vector<SparsityEstimate> interpolate_at_sparsity(const std::vector<MeasuredPoint>& points,
                                                      const std::vector<double>& targets);

// One cell of a sweep, as its results.json records it.
struct SweepPoint {
  std::string method;    // the family
  std::string label;
  std::string gates;     // the method's own gates ("" = the sweep's)
  int64_t context = 0;
  double sparsity = 0;
  double ppl = 0;
};

struct EqualSparsityRow {
  std::string method;
  std::string gates;
  int64_t context = 0;
  std::vector<SparsityEstimate> estimates;   // one per target
};

struct EqualSparsityTable {
  std::vector<double> targets;
  std::vector<int64_t> contexts;                         // ascending
  std::vector<std::pair<int64_t, MeasuredPoint>> dense;  // the reference of each context
  std::vector<EqualSparsityRow> rows;                    // by context, then first appearance

  std::string to_markdown(const std::string& title) const;
  std::string to_csv() const;
  nlohmann::json to_json() const;
};

EqualSparsityTable equal_sparsity_table(const std::vector<SweepPoint>& cells,
                                        const std::vector<double>& targets);

}  // namespace seer::analysis
