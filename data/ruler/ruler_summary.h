// RULER's scoring per task (postprocess, string_match_all / string_match_part, nulls) and its
// summary files: summary.csv per length in RULER's own layout (pandas DataFrame of rows Tasks /
// Score / Nulls, written with its 0..n header row), plus one table over lengths.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace seer::data {

struct RulerTaskScore {
  std::string task;
  double score = 0.0;    // 0..100, 2 decimals
  int64_t nulls = 0;     // empty predictions after postprocessing
  int64_t total = 0;
};

RulerTaskScore score_ruler_task(const std::string& task, const std::string& metric,
                                const std::vector<std::string>& predictions,
                                const std::vector<std::vector<std::string>>& references);

// Python's repr of a float ("100.0", "66.67").
std::string python_float_repr(double x);

// RULER's summary.csv for one length:
//   0,1,2
//   Tasks,niah_single_1,vt
//   Score,100.0,66.67
//   Nulls,0/10,1/10
std::string ruler_summary_csv(const std::vector<RulerTaskScore>& scores);
void write_ruler_summary(const std::filesystem::path& path, const std::vector<RulerTaskScore>& scores);

// length,<task...>,average — one row per length, tasks in first-seen order; a task missing at a
// length is left empty, and the average is over the tasks present.
std::string ruler_length_table_csv(const std::map<int64_t, std::vector<RulerTaskScore>>& by_length);

}  // namespace seer::data
