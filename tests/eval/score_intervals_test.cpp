// analysis/score_intervals: the tables' numbers are the bootstrap routines' (same seed, same
// draws), the "reference above zero" subset is taken per column from the reference, differences
// are paired and left out where the samples do not pair, and the files hold every cell.
#include "catch.h"
#include "analysis/score_intervals.h"

#include <fmt/format.h>

#include <algorithm>

using namespace seer::analysis;
using seer::test::Contains;

namespace {

ScoredCell cell(const std::string& method, const std::string& column, TaskScores scores,
                double sparsity, std::vector<std::string> tasks = {"t1", "t2", "t3"}) {
  ScoredCell c;
  c.method = method;
  c.column = column;
  c.tasks = std::move(tasks);
  c.scores = std::move(scores);
  c.sparsity = sparsity;
  for (size_t t = 0; t < c.tasks.size(); ++t) c.task_sparsity.push_back(sparsity);
  return c;
}

int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

const nlohmann::json& json_cell(const nlohmann::json& j, const std::string& method, const std::string& col) {
  for (const auto& c : j["cells"]) {
    if (c["method"] == method && c["length"] == col) return c;
  }
  throw std::runtime_error("no cell " + method + " @" + col);
}

}  // namespace

TEST_CASE("interval tables: per-column subset, paired differences, unpaired cells left out", "[eval][bootstrap]") {
  const TaskScores dense_4k = {{100, 100, 0, 100, 100}, {0, 0, 0, 0, 0}, {50, 0, 100, 100, 0}};
  const TaskScores gate_4k = {{100, 0, 0, 100, 100}, {0, 100, 0, 0, 0}, {50, 0, 100, 0, 0}};
  const TaskScores dense_8k = {{100, 0, 0, 0, 100}, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}};
  const TaskScores gate_8k = {{0, 0, 100, 0, 100}, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}};
  const std::vector<ScoredCell> cells = {
      cell("dense", "4096", dense_4k, 0.0), cell("gate", "4096", gate_4k, 0.7),
      cell("short", "4096", {{100, 0}, {0, 0}, {0, 0}}, 0.5),   // other sample counts: unpaired
      cell("dense", "8192", dense_8k, 0.0), cell("gate", "8192", gate_8k, 0.72)};
  BootstrapOptions o;
  o.resamples = 500;
  o.seed = 9;
  const IntervalReport r = interval_report(cells, "dense", "RULER (test)", "length", o);

  CHECK(r.json["positive_tasks"]["4096"] == nlohmann::json({"t1", "t3"}));
  CHECK(r.json["positive_tasks"]["8192"] == nlohmann::json({"t1"}));
  const auto& g4 = json_cell(r.json, "gate", "4096");
  const Interval avg = bootstrap_average(gate_4k, {0, 1, 2}, o);
  const Interval pos = bootstrap_average(gate_4k, {0, 2}, o);
  const Interval diff = bootstrap_paired_difference(gate_4k, dense_4k, {0, 2}, o);
  CHECK(g4["average"]["estimate"].get<double>() == Approx(avg.estimate));
  CHECK(g4["average"]["lo"].get<double>() == avg.lo);
  CHECK(g4["positive_average"]["hi"].get<double>() == pos.hi);
  CHECK(g4["vs_reference"]["estimate"].get<double>() == Approx(diff.estimate));
  CHECK(g4["vs_reference"]["lo"].get<double>() == diff.lo);
  CHECK(g4["vs_reference"]["hi"].get<double>() == diff.hi);
  // A task interval comes from the task's draws inside the cell (position 2 here).
  const Interval t3 = bootstrap_average(gate_4k, {2}, o);
  CHECK(g4["tasks"]["t3"]["lo"].get<double>() == t3.lo);
  CHECK(g4["tasks"]["t3"]["samples"] == 5);
  // The reference against itself: exactly zero.
  const auto& d4 = json_cell(r.json, "dense", "4096");
  CHECK(d4["vs_reference"]["lo"].get<double>() == 0.0);
  CHECK(d4["vs_reference"]["hi"].get<double>() == 0.0);
  CHECK(json_cell(r.json, "short", "4096")["vs_reference"].is_null());
  CHECK(json_cell(r.json, "gate", "8192")["positive_average"]["estimate"].get<double>() == Approx(40.0));

  CHECK_THAT(r.table_md, Contains(fmt::format("| gate | {:.2f} [{:.2f}, {:.2f}] (70%) | ",
                                              avg.estimate, avg.lo, avg.hi)));
  CHECK_THAT(r.table_md, Contains("- 4096: t1, t3"));
  CHECK_THAT(r.table_md, Contains("- 8192: t1"));
  CHECK_THAT(r.vs_reference_md, Contains(fmt::format("| gate | {:+.2f} [{:+.2f}, {:+.2f}] (70%) |",
                                                     diff.estimate, diff.lo, diff.hi)));
  CHECK_THAT(r.vs_reference_md, Contains("| short | - | - |"));
  CHECK(r.vs_reference_md.find("| dense |") == std::string::npos);
  CHECK_THAT(r.tasks_md, Contains("per task at length 4096"));
  CHECK_THAT(r.tasks_md, Contains("per task at length 8192"));
  CHECK_THAT(r.tasks_md, Contains("| method | t1 | t2 | t3 | average | dense > 0 average |"));
  CHECK_THAT(r.tasks_md, Contains("| dense | 80.00 [")); 
  CHECK(count_lines(r.table_csv) == 1 + 5);
  CHECK(count_lines(r.tasks_csv) == 1 + 5 * 3);
  CHECK_THAT(r.table_csv, Contains("method,length,sparsity,average,average_lo,average_hi,"));
  CHECK_THAT(r.tasks_csv, Contains("gate,4096,t3,5,"));
}

TEST_CASE("interval tables without the reference or with empty cells", "[eval][bootstrap]") {
  BootstrapOptions o;
  o.resamples = 200;
  SECTION("no dense cell: averages only, no subset") {
    const auto r = interval_report({cell("gate", "4096", {{100, 0}, {0, 0}, {50, 50}}, 0.7)},
                                   "dense", "T", "length", o);
    CHECK_THAT(r.table_md, Contains("- 4096: (none)"));
    CHECK(json_cell(r.json, "gate", "4096")["positive_average"].is_null());
    CHECK(json_cell(r.json, "gate", "4096")["average"]["estimate"].get<double>() == Approx(100.0 / 3));
  }
  SECTION("a cell whose every task was skipped prints '-'") {
    const auto r = interval_report({cell("dense", "48", {}, 0.0, {})}, "dense", "T", "length", o);
    CHECK_THAT(r.table_md, Contains("| dense | - |"));
  }
  SECTION("tasks and score lists must agree") {
    CHECK_THROWS_WITH(interval_report({cell("dense", "48", {{1.0}}, 0.0)}, "dense", "T", "length", o),
                      Contains("3 tasks and 1 score lists"));
  }
}
