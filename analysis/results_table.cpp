#include "analysis/results_table.h"

#include <fmt/format.h>

#include <algorithm>

namespace seer::analysis {
namespace {

size_t index_of(std::vector<std::string>& names, const std::string& name) {
  auto it = std::find(names.begin(), names.end(), name);
  if (it != names.end()) return static_cast<size_t>(it - names.begin());
  names.push_back(name);
  return names.size() - 1;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

size_t ResultsTable::row(const std::string& name) {
  const size_t r = index_of(rows, name);
  if (cells.size() < rows.size()) cells.resize(rows.size());
  return r;
}

size_t ResultsTable::column(const std::string& name) { return index_of(columns, name); }

TableCell& ResultsTable::at(const std::string& row_name, const std::string& column_name) {
  const size_t r = row(row_name);
  const size_t c = column(column_name);
  for (auto& cells_of_row : cells) {
    if (cells_of_row.size() < columns.size()) cells_of_row.resize(columns.size());
  }
  return cells[r][c];
}

std::string ResultsTable::to_markdown() const {
  std::string out;
  if (!title.empty()) out += fmt::format("### {}\n\n", title);
  out += "| method |";
  for (const auto& c : columns) out += fmt::format(" {} |", c);
  out += "\n|---|";
  for (size_t i = 0; i < columns.size(); ++i) out += "---|";
  out += "\n";
  for (size_t r = 0; r < rows.size(); ++r) {
    out += fmt::format("| {} |", rows[r]);
    for (size_t c = 0; c < columns.size(); ++c) {
      const TableCell cell = r < cells.size() && c < cells[r].size() ? cells[r][c] : TableCell{};
      if (!cell.score) {
        out += " - |";
      } else if (cell.sparsity) {
        out += fmt::format(" {:.{}f} ({:.0f}%) |", *cell.score, score_digits, 100.0 * *cell.sparsity);
      } else {
        out += fmt::format(" {:.{}f} |", *cell.score, score_digits);
      }
    }
    out += "\n";
  }
  return out;
}

std::string ResultsTable::to_csv() const {
  std::string out = "method";
  for (const auto& c : columns) {
    out += fmt::format(",{},{}", csv_field(score_name + "@" + c), csv_field("sparsity@" + c));
  }
  out += "\n";
  for (size_t r = 0; r < rows.size(); ++r) {
    out += csv_field(rows[r]);
    for (size_t c = 0; c < columns.size(); ++c) {
      const TableCell cell = r < cells.size() && c < cells[r].size() ? cells[r][c] : TableCell{};
      out += cell.score ? fmt::format(",{:.6g}", *cell.score) : std::string(",");
      out += cell.sparsity ? fmt::format(",{:.6g}", *cell.sparsity) : std::string(",");
    }
    out += "\n";
  }
  return out;
}

}  // namespace seer::analysis
