#include "analysis/equal_sparsity.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace seer::analysis {
namespace {

std::string pct(double s) { return fmt::format("{:.1f}%", 100.0 * s); }

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string family_name(const EqualSparsityRow& r) {
  return r.gates.empty() ? r.method : fmt::format("{} (gates: {})", r.method, r.gates);
}

nlohmann::json point_json(const std::optional<MeasuredPoint>& p) {
  if (!p) return nullptr;
  return {{"label", p->label}, {"sparsity", p->sparsity}, {"ppl", p->ppl}};
}

}  // namespace

std::vector<SparsityEstimate> interpolate_at_sparsity(const std::vector<MeasuredPoint>& points,
                                                      const std::vector<double>& targets) {
  // Sorted by sparsity; points at the same sparsity merged (mean log-perplexity).
  struct Merged {
    MeasuredPoint p;
    double log_ppl_sum = 0;
    int n = 0;
  };
  std::vector<MeasuredPoint> sorted = points;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const MeasuredPoint& a, const MeasuredPoint& b) { return a.sparsity < b.sparsity; });
  std::vector<Merged> m;
  for (const auto& p : sorted) {
    if (!m.empty() && m.back().p.sparsity == p.sparsity) {
      m.back().p.label += " | " + p.label;
    } else {
      m.push_back(Merged{p, 0.0, 0});
    }
    m.back().log_ppl_sum += std::log(p.ppl);
    ++m.back().n;
  }
  for (auto& x : m)
    if (x.n > 1) x.p.ppl = std::exp(x.log_ppl_sum / x.n);

  std::vector<SparsityEstimate> out;
  for (const double t : targets) {
    SparsityEstimate e;
    e.target = t;
    if (m.empty()) {
      e.why = "not measured";
    } else if (m.size() == 1 && m[0].p.sparsity != t) {
      e.why = fmt::format("one measured point ({})", pct(m[0].p.sparsity));
    } else if (t < m.front().p.sparsity) {
      e.why = fmt::format("below the measured range {}-{}", pct(m.front().p.sparsity),
                          pct(m.back().p.sparsity));
    } else if (t > m.back().p.sparsity) {
      e.why = fmt::format("above the measured range {}-{}", pct(m.front().p.sparsity),
                          pct(m.back().p.sparsity));
    } else {
      size_t i = 0;
      while (i + 1 < m.size() && m[i + 1].p.sparsity <= t) ++i;
      const Merged& lo = m[i];
      if (lo.p.sparsity == t) {
        e.ppl = lo.p.ppl;
        e.below = e.above = lo.p;
      } else {
        const Merged& hi = m[i + 1];
        const double w = (t - lo.p.sparsity) / (hi.p.sparsity - lo.p.sparsity);
        const double a = std::log(lo.p.ppl), b = std::log(hi.p.ppl);
        e.ppl = std::exp(a + w * (b - a));
        e.below = lo.p;
        e.above = hi.p;
      }
    }
    out.push_back(e);
  }
  return out;
}

EqualSparsityTable equal_sparsity_table(const std::vector<SweepPoint>& cells,
                                        const std::vector<double>& targets) {
  EqualSparsityTable t;
  t.targets = targets;
  std::set<int64_t> contexts;
  for (const auto& c : cells) contexts.insert(c.context);
  t.contexts.assign(contexts.begin(), contexts.end());
  for (const int64_t ctx : t.contexts) {
    // Families in order of first appearance; a family is a method with its gates.
    std::vector<std::pair<std::string, std::string>> order;
    std::map<std::pair<std::string, std::string>, std::vector<MeasuredPoint>> fam;
    for (const auto& c : cells) {
      if (c.context != ctx) continue;
      const auto key = std::make_pair(c.method, c.gates);
      if (!fam.count(key)) order.push_back(key);
      fam[key].push_back(MeasuredPoint{c.label, c.sparsity, c.ppl});
    }
    std::optional<MeasuredPoint> dense;
    for (const auto& key : order) {
      const auto& pts = fam[key];
      const bool all_dense = std::all_of(pts.begin(), pts.end(),
                                         [](const MeasuredPoint& p) { return p.sparsity == 0.0; });
      if (all_dense) {
        if (!dense || key.first == "dense") dense = interpolate_at_sparsity(pts, {0.0})[0].below;
        continue;
      }
      t.rows.push_back(EqualSparsityRow{key.first, key.second, ctx,
                                        interpolate_at_sparsity(pts, targets)});
    }
    if (dense) t.dense.emplace_back(ctx, *dense);
  }
  return t;
}

std::string EqualSparsityTable::to_markdown(const std::string& title) const {
  std::string md = fmt::format("### {}\n\n", title);
  md += "Log-perplexity interpolated linearly in measured sparsity between the two measured "
        "settings that bracket each target (shown as sparsity: perplexity); no extrapolation: "
        "\"—\" gives the reason. In brackets after the value: the rise over dense.\n\n";
  for (const int64_t ctx : contexts) {
    std::optional<double> dense_ppl;
    for (const auto& [c, p] : dense)
      if (c == ctx) dense_ppl = p.ppl;
    md += dense_ppl ? fmt::format("#### context {} (dense {:.3f})\n\n", ctx, *dense_ppl)
                    : fmt::format("#### context {}\n\n", ctx);
    md += "| method |";
    for (double tg : targets) md += fmt::format(" {:.0f}% |", 100.0 * tg);
    md += "\n|---|";
    for (size_t i = 0; i < targets.size(); ++i) md += "---|";
    md += "\n";
    for (const auto& r : rows) {
      if (r.context != ctx) continue;
      md += fmt::format("| {} |", family_name(r));
      for (const auto& e : r.estimates) {
        if (!e.ppl) {
          md += fmt::format(" — ({}) |", e.why);
          continue;
        }
        std::string rise;
        if (dense_ppl) rise = fmt::format(" ({:+.1f}%)", 100.0 * (*e.ppl / *dense_ppl - 1.0));
        if (e.below->sparsity == e.above->sparsity) {
          md += fmt::format(" **{:.3f}**{} [measured at {}] |", *e.ppl, rise, pct(e.below->sparsity));
        } else {
          md += fmt::format(" **{:.3f}**{} [{}: {:.3f} · {}: {:.3f}] |", *e.ppl, rise,
                            pct(e.below->sparsity), e.below->ppl, pct(e.above->sparsity),
                            e.above->ppl);
        }
      }
      md += "\n";
    }
    md += "\n";
  }
  return md;
}

std::string EqualSparsityTable::to_csv() const {
  std::string out = "context,method,gates,target_sparsity,ppl,rise_over_dense,below_label,"
                    "below_sparsity,below_ppl,above_label,above_sparsity,above_ppl,note\n";
  for (const auto& r : rows) {
    std::optional<double> dense_ppl;
    for (const auto& [c, p] : dense)
      if (c == r.context) dense_ppl = p.ppl;
    for (const auto& e : r.estimates) {
      out += fmt::format("{},{},{},{:.6g},", r.context, csv_field(r.method), csv_field(r.gates),
                         e.target);
      out += e.ppl ? fmt::format("{:.6g},", *e.ppl) : std::string(",");
      out += e.ppl && dense_ppl ? fmt::format("{:.6g},", *e.ppl / *dense_ppl - 1.0) : std::string(",");
      for (const auto* p : {&e.below, &e.above}) {
        out += *p ? fmt::format("{},{:.6g},{:.6g},", csv_field((*p)->label), (*p)->sparsity, (*p)->ppl)
                  : std::string(",,,");
      }
      out += csv_field(e.why) + "\n";
    }
  }
  return out;
}

nlohmann::json EqualSparsityTable::to_json() const {
  nlohmann::json j;
  j["targets"] = targets;
  j["interpolation"] = "log-perplexity linear in measured sparsity, no extrapolation";
  nlohmann::json d = nlohmann::json::object();
  for (const auto& [c, p] : dense) d[std::to_string(c)] = point_json(p);
  j["dense"] = d;
  nlohmann::json rs = nlohmann::json::array();
  for (const auto& r : rows) {
    nlohmann::json est = nlohmann::json::array();
    for (const auto& e : r.estimates) {
      est.push_back({{"target", e.target},
                     {"ppl", e.ppl ? nlohmann::json(*e.ppl) : nlohmann::json(nullptr)},
                     {"below", point_json(e.below)},
                     {"above", point_json(e.above)},
                     {"why", e.why}});
    }
    rs.push_back({{"context", r.context}, {"method", r.method}, {"gates", r.gates},
                  {"estimates", est}});
  }
  j["rows"] = rs;
  return j;
}

}  // namespace seer::analysis
