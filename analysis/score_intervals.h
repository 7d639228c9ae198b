// Benchmark tables with bootstrap intervals (analysis/bootstrap.h): cells of methods x columns
// (RULER: lengths), each holding per-sample scores of several tasks. Writes
//   table.md / table.csv   methods x columns: average over all tasks [95% CI] (sparsity), and the
//                          average over the tasks where the reference method (dense) scores above
//                          zero, with its interval;
//   tasks.md / tasks.csv   per column, methods x tasks: task score [95% CI] (sparsity);
//   vs_dense.md            per column, each method minus the reference on that average, with the
//                          paired interval (both resampled at the same sample indices).
// The subset "reference above zero" is fixed per column from the reference's observed scores (the
// intervals are conditional on it). One seed serves every cell, so a task's resampled indices are
// the same in every cell of its column: that is what pairs the differences.
#pragma once

#include "analysis/bootstrap.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace seer::analysis {

struct ScoredCell {
  std::string method;                 // row label, e.g. "gate tau=0.005"
  std::string column;                 // e.g. "8192"
  std::vector<std::string> tasks;     // in table order
  TaskScores scores;                  // [task][sample], on the scale the tables print (0..100)
  std::optional<double> sparsity;     // measured, in [0, 1]
  std::vector<std::optional<double>> task_sparsity;   // per task (may be empty)
};

struct IntervalReport {
  std::string table_md, table_csv, tasks_md, tasks_csv, vs_reference_md;
  nlohmann::json json;   // every number of the tables, per column and method
};

// `cells` in row order (a method's first appearance fixes its row; columns likewise). Cells of
// one column are paired with the reference cell of that column when they hold the same tasks
// with the same sample counts; otherwise their difference is left out ("-").
// `column_name` heads the column field of the CSVs ("length").
IntervalReport interval_report(const std::vector<ScoredCell>& cells,
                               const std::string& reference_method, const std::string& title,
                               const std::string& column_name, const BootstrapOptions& opts);

}  // namespace seer::analysis
