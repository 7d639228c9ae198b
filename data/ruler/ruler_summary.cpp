// RULER scoring and summary files (see ruler_summary.h).
#include "data/ruler/ruler_summary.h"

#include "data/data_error.h"
#include "data/metrics/ruler_metrics.h"
#include "data/text_file.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace seer::data {

RulerTaskScore score_ruler_task(const std::string& task, const std::string& metric,
                                const std::vector<std::string>& predictions,
                                const std::vector<std::vector<std::string>>& references) {
  std::vector<std::string> cleaned;
  RulerTaskScore out;
  out.task = task;
  out.total = static_cast<int64_t>(predictions.size());
  for (const auto& p : predictions) {
    cleaned.push_back(ruler_postprocess(p));
    out.nulls += cleaned.back().empty() ? 1 : 0;
  }
  if (metric == "string_match_all") {
    out.score = string_match_all(cleaned, references);
  } else if (metric == "string_match_part") {
    out.score = string_match_part(cleaned, references);
  } else {
    throw DataError(fmt::format("RULER task '{}': metric '{}': expected string_match_all | "
                                "string_match_part", task, metric));
  }
  return out;
}

std::string python_float_repr(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  // Shortest round-trip significant digits (as repr), printed positionally (scores are far from
  // the 1e16 / 1e-4 limits where Python switches to exponents).
  char buffer[64];
  int digits = 17;
  for (int p = 1; p <= 17; ++p) {
    std::snprintf(buffer, sizeof buffer, "%.*e", p - 1, x);
    if (std::strtod(buffer, nullptr) == x) {
      digits = p;
      break;
    }
  }
  const int exponent = std::atoi(std::strchr(buffer, 'e') + 1);
  std::snprintf(buffer, sizeof buffer, "%.*f", std::max(0, digits - 1 - exponent), x);
  std::string s = buffer;
  if (s.find('.') == std::string::npos) s += ".0";
  return s;
}

std::string ruler_summary_csv(const std::vector<RulerTaskScore>& scores) {
  std::string header = "0", tasks = "Tasks", values = "Score", nulls = "Nulls";
  for (size_t i = 0; i < scores.size(); ++i) {
    header += fmt::format(",{}", i + 1);
    tasks += "," + scores[i].task;
    values += "," + python_float_repr(scores[i].score);
    nulls += fmt::format(",{}/{}", scores[i].nulls, scores[i].total);
  }
  return header + "\n" + tasks + "\n" + values + "\n" + nulls + "\n";
}

void write_ruler_summary(const std::filesystem::path& path, const std::vector<RulerTaskScore>& scores) {
  write_text_file_atomic(path, ruler_summary_csv(scores));
}

std::string ruler_length_table_csv(const std::map<int64_t, std::vector<RulerTaskScore>>& by_length) {
  std::vector<std::string> tasks;
  for (const auto& [length, scores] : by_length) {
    for (const auto& s : scores) {
      if (std::find(tasks.begin(), tasks.end(), s.task) == tasks.end()) tasks.push_back(s.task);
    }
  }
  std::string out = "length";
  for (const auto& t : tasks) out += "," + t;
  out += ",average\n";
  for (const auto& [length, scores] : by_length) {
    out += std::to_string(length);
    double total = 0.0;
    int present = 0;
    for (const auto& t : tasks) {
      const auto it = std::find_if(scores.begin(), scores.end(),
                                   [&](const RulerTaskScore& s) { return s.task == t; });
      if (it == scores.end()) {
        out += ",";
        continue;
      }
      out += "," + python_float_repr(it->score);
      total += it->score;
      ++present;
    }
    out += "," + (present > 0 ? fmt::format("{:.2f}", total / present) : std::string());
    out += "\n";
  }
  return out;
}

}  // namespace seer::data
