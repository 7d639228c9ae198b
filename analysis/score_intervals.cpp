#include "analysis/score_intervals.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>
#include <numeric>

namespace seer::analysis {
namespace {

void add_unique(std::vector<std::string>& names, const std::string& name) {
  if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string sparsity_text(const std::optional<double>& s) {
  return s ? fmt::format(" ({:.0f}%)", 100.0 * *s) : "";
}

std::string interval_text(const std::optional<Interval>& i, const std::optional<double>& sparsity,
                          bool sign = false) {
  if (!i) return "-";
  return sign ? fmt::format("{:+.2f} [{:+.2f}, {:+.2f}]{}", i->estimate, i->lo, i->hi,
                            sparsity_text(sparsity))
              : fmt::format("{:.2f} [{:.2f}, {:.2f}]{}", i->estimate, i->lo, i->hi,
                            sparsity_text(sparsity));
}

nlohmann::json interval_json(const std::optional<Interval>& i) {
  if (!i) return nullptr;
  return {{"estimate", i->estimate}, {"lo", i->lo}, {"hi", i->hi}};
}

std::string csv_interval(const std::optional<Interval>& i) {
  return i ? fmt::format("{},{},{}", i->estimate, i->lo, i->hi) : ",,";
}

std::string md_header(const std::string& first, const std::vector<std::string>& names) {
  std::string out = fmt::format("| {} |", first);
  for (const auto& n : names) out += fmt::format(" {} |", n);
  out += "\n|---|";
  for (size_t i = 0; i < names.size(); ++i) out += "---|";
  return out + "\n";
}

// What one cell's statistics came to.
struct CellStats {
  const ScoredCell* cell = nullptr;
  std::vector<std::optional<Interval>> tasks;
  std::optional<Interval> average;            // over every task of the cell
  std::optional<Interval> positive_average;   // over the tasks where the reference scores > 0
  std::optional<Interval> vs_reference;       // positive average minus the reference's, paired
  std::optional<Interval> vs_reference_all;   // the same over every task
};

bool same_samples(const ScoredCell& a, const ScoredCell& b) {
  if (a.tasks != b.tasks) return false;
  for (size_t t = 0; t < a.scores.size(); ++t) {
    if (a.scores[t].size() != b.scores[t].size()) return false;
  }
  return true;
}

// Indices of the tasks with samples (a task skipped at a length has none).
std::vector<size_t> scored_tasks(const ScoredCell& c) {
  std::vector<size_t> out;
  for (size_t t = 0; t < c.scores.size(); ++t) {
    if (!c.scores[t].empty()) out.push_back(t);
  }
  return out;
}

}  // namespace

IntervalReport interval_report(const std::vector<ScoredCell>& cells,
                               const std::string& reference_method, const std::string& title,
                               const std::string& column_name, const BootstrapOptions& opts) {
  std::vector<std::string> rows, columns;
  for (const auto& c : cells) {
    add_unique(rows, c.method);
    add_unique(columns, c.column);
    if (c.scores.size() != c.tasks.size()) {
      throw std::invalid_argument(fmt::format("interval_report: cell {} @{} has {} tasks and {} "
                                              "score lists", c.method, c.column, c.tasks.size(),
                                              c.scores.size()));
    }
  }
  std::map<std::pair<std::string, std::string>, CellStats> stats;   // (method, column)
  std::map<std::string, std::vector<std::string>> positive_names;   // column -> tasks
  for (const auto& column : columns) {
    const ScoredCell* ref = nullptr;
    for (const auto& c : cells) {
      if (c.column == column && c.method == reference_method) ref = &c;
    }
    std::vector<size_t> positive;   // indices into the reference's tasks
    if (ref) {
      for (const size_t t : scored_tasks(*ref)) {
        const auto& v = ref->scores[t];
        if (std::accumulate(v.begin(), v.end(), 0.0) > 0.0) {
          positive.push_back(t);
          positive_names[column].push_back(ref->tasks[t]);
        }
      }
    }
    for (const auto& c : cells) {
      if (c.column != column) continue;
      CellStats s;
      s.cell = &c;
      // A task's draws are keyed by its position in the cell: its interval comes from the same
      // resamples as the averages it enters.
      s.tasks.resize(c.tasks.size());
      const auto scored = scored_tasks(c);
      for (const size_t t : scored) s.tasks[t] = bootstrap_average(c.scores, {t}, opts);
      if (!scored.empty()) s.average = bootstrap_average(c.scores, scored, opts);
      if (ref && !positive.empty() && same_samples(c, *ref)) {
        s.positive_average = bootstrap_average(c.scores, positive, opts);
        s.vs_reference = bootstrap_paired_difference(c.scores, ref->scores, positive, opts);
        if (!scored.empty() && scored == scored_tasks(*ref)) {
          s.vs_reference_all = bootstrap_paired_difference(c.scores, ref->scores, scored, opts);
        }
      }
      stats[{c.method, column}] = s;
    }
  }
  auto find = [&](const std::string& row, const std::string& column) -> const CellStats* {
    const auto it = stats.find({row, column});
    return it == stats.end() ? nullptr : &it->second;
  };

  IntervalReport out;
  const std::string level = fmt::format("{:g}%", 100.0 * opts.level);
  const std::string method_note = fmt::format(
      "{} bootstrap intervals in brackets (percentile, {} resamples of the samples within each "
      "task, seed {}), measured prefill sparsity in parentheses", level, opts.resamples, opts.seed);

  // table.md
  out.table_md = fmt::format("### {}: average over the tasks\n\n{}.\n\n", title, method_note);
  out.table_md += md_header("method", columns);
  for (const auto& r : rows) {
    out.table_md += fmt::format("| {} |", r);
    for (const auto& c : columns) {
      const CellStats* s = find(r, c);
      out.table_md += fmt::format(" {} |", s ? interval_text(s->average, s->cell->sparsity) : "-");
    }
    out.table_md += "\n";
  }
  out.table_md += fmt::format("\n### {}: average over the tasks where {} scores above zero\n\n",
                              title, reference_method);
  for (const auto& c : columns) {
    const auto it = positive_names.find(c);
    out.table_md += fmt::format("- {}: {}\n", c,
                                it == positive_names.end() ? std::string("(none)")
                                                           : fmt::format("{}", fmt::join(it->second, ", ")));
  }
  out.table_md += "\n" + md_header("method", columns);
  for (const auto& r : rows) {
    out.table_md += fmt::format("| {} |", r);
    for (const auto& c : columns) {
      const CellStats* s = find(r, c);
      out.table_md += fmt::format(" {} |", s ? interval_text(s->positive_average, s->cell->sparsity) : "-");
    }
    out.table_md += "\n";
  }

  // vs_dense.md
  out.vs_reference_md = fmt::format(
      "### {}: difference to {} on the average over the tasks where {} scores above zero\n\n"
      "Paired {} bootstrap intervals: each resample draws the same samples (prompts) for the "
      "method and for {} ({} resamples, seed {}); an interval that excludes 0 is a difference the "
      "samples show. Measured prefill sparsity in parentheses.\n\n",
      title, reference_method, reference_method, level, reference_method, opts.resamples, opts.seed);
  auto diff_table = [&](bool all_tasks) {
    std::string md = md_header("method", columns);
    for (const auto& r : rows) {
      if (r == reference_method) continue;
      md += fmt::format("| {} |", r);
      for (const auto& c : columns) {
        const CellStats* s = find(r, c);
        md += fmt::format(" {} |", s ? interval_text(all_tasks ? s->vs_reference_all : s->vs_reference,
                                                     s->cell->sparsity, true)
                                     : "-");
      }
      md += "\n";
    }
    return md;
  };
  out.vs_reference_md += diff_table(false);
  out.vs_reference_md += fmt::format("\n### The same over all tasks\n\n") + diff_table(true);

  // tasks.md: one section per column.
  for (const auto& c : columns) {
    std::vector<std::string> task_names;
    for (const auto& r : rows) {
      if (const CellStats* s = find(r, c)) {
        for (const auto& t : s->cell->tasks) add_unique(task_names, t);
      }
    }
    std::vector<std::string> heads = task_names;
    heads.push_back("average");
    heads.push_back(fmt::format("{} > 0 average", reference_method));
    out.tasks_md += fmt::format("{}### {} per task at {} {}: {}.\n\n", out.tasks_md.empty() ? "" : "\n",
                                title, column_name, c, method_note);
    out.tasks_md += md_header("method", heads);
    for (const auto& r : rows) {
      const CellStats* s = find(r, c);
      if (!s) continue;
      out.tasks_md += fmt::format("| {} |", r);
      for (const auto& t : task_names) {
        const auto& tasks = s->cell->tasks;
        const auto it = std::find(tasks.begin(), tasks.end(), t);
        if (it == tasks.end()) {
          out.tasks_md += " - |";
          continue;
        }
        const size_t k = static_cast<size_t>(it - tasks.begin());
        const auto sp = k < s->cell->task_sparsity.size() ? s->cell->task_sparsity[k] : std::nullopt;
        out.tasks_md += fmt::format(" {} |", interval_text(s->tasks[k], sp));
      }
      out.tasks_md += fmt::format(" {} | {} |\n", interval_text(s->average, s->cell->sparsity),
                                  interval_text(s->positive_average, std::nullopt));
    }
  }

  // CSVs and JSON
  out.table_csv = fmt::format(
      "method,{},sparsity,average,average_lo,average_hi,{}_positive_average,{}_positive_lo,"
      "{}_positive_hi,vs_{},vs_{}_lo,vs_{}_hi\n",
      column_name, reference_method, reference_method, reference_method, reference_method,
      reference_method, reference_method);
  out.tasks_csv = fmt::format("method,{},task,samples,score,score_lo,score_hi,sparsity\n", column_name);
  out.json = {{"reference", reference_method},
              {"bootstrap", {{"resamples", opts.resamples}, {"seed", opts.seed}, {"level", opts.level}}},
              {"positive_tasks", positive_names},
              {"cells", nlohmann::json::array()}};
  for (const auto& r : rows) {
    for (const auto& c : columns) {
      const CellStats* s = find(r, c);
      if (!s) continue;
      const ScoredCell& cell = *s->cell;
      const std::string sp = cell.sparsity ? fmt::format("{}", *cell.sparsity) : "";
      out.table_csv += fmt::format("{},{},{},{},{},{}\n", csv_field(r), csv_field(c), sp,
                                   csv_interval(s->average), csv_interval(s->positive_average),
                                   csv_interval(s->vs_reference));
      nlohmann::json tasks = nlohmann::json::object();
      for (size_t k = 0; k < cell.tasks.size(); ++k) {
        const auto tsp = k < cell.task_sparsity.size() ? cell.task_sparsity[k] : std::nullopt;
        out.tasks_csv += fmt::format("{},{},{},{},{},{}\n", csv_field(r), csv_field(c),
                                     csv_field(cell.tasks[k]), cell.scores[k].size(),
                                     csv_interval(s->tasks[k]),
                                     tsp ? fmt::format("{}", *tsp) : "");
        tasks[cell.tasks[k]] = interval_json(s->tasks[k]);
        tasks[cell.tasks[k]]["samples"] = cell.scores[k].size();
      }
      out.json["cells"].push_back({{"method", r},
                                   {column_name, c},
                                   {"sparsity", cell.sparsity ? nlohmann::json(*cell.sparsity) : nlohmann::json(nullptr)},
                                   {"average", interval_json(s->average)},
                                   {"positive_average", interval_json(s->positive_average)},
                                   {"vs_reference", interval_json(s->vs_reference)},
                                   {"vs_reference_all_tasks", interval_json(s->vs_reference_all)},
                                   {"tasks", tasks}});
    }
  }
  return out;
}

}  // namespace seer::analysis
