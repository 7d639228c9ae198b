// Tables laid out like the paper's: one row per method (and setting), one column per context
// length or task, the score with the measured sparsity beside it. Written as Markdown (printed
// and saved) and CSV (one value per cell, sparsity in its own columns).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace seer::analysis {

struct TableCell {
  std::optional<double> score;      // empty = not run / failed
  std::optional<double> sparsity;   // measured, in [0, 1]
};

struct ResultsTable {
  std::string title;
  std::string score_name = "ppl";   // header of the score columns in the CSV
  int score_digits = 3;
  std::vector<std::string> columns;             // e.g. "1024", "2048"
  std::vector<std::string> rows;                // e.g. "dense", "gate topk 0.5"
  std::vector<std::vector<TableCell>> cells;    // [row][column]

  // Returns the row index, adding the row when new.
  size_t row(const std::string& name);
  size_t column(const std::string& name);
  TableCell& at(const std::string& row_name, const std::string& column_name);

  std::string to_markdown() const;
  std::string to_csv() const;
};

}  // namespace seer::analysis
