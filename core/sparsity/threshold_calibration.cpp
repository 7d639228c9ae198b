#include "core/sparsity/threshold_calibration.h"

#include "core/sparsity/mass_allocation.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>

namespace seer::core {
namespace {

// A float32 value in [lo, hi) for lo < hi, half-way when float32 can say so: a threshold there
// keeps hi and drops lo, and leaves margin on both sides for text it was not calibrated on.
float float_between(float lo, float hi) {
  const float mid = static_cast<float>((static_cast<double>(lo) + static_cast<double>(hi)) / 2.0);
  return (mid >= lo && mid < hi) ? mid : lo;
}

void append_selected(std::vector<float>& out, const at::Tensor& values, const at::Tensor& keep) {
  const at::Tensor sel = values.masked_select(keep).contiguous();
  const float* d = sel.data_ptr<float>();
  out.insert(out.end(), d, d + sel.numel());
}

double sparsity_of(int64_t kept, int64_t causal) {
  return causal > 0 ? 1.0 - static_cast<double>(kept) / static_cast<double>(causal) : 0.0;
}

}  // namespace

std::string granularity_name(Granularity g) {
  switch (g) {
    case Granularity::kHead: return "head";
    case Granularity::kLayer: return "layer";
    case Granularity::kGlobal: return "global";
    case Granularity::kHeadOracle: return "head_oracle";
    case Granularity::kHeadMass: return "head_mass";
  }
  return "?";
}

Granularity parse_granularity(const std::string& name) {
  for (auto g : {Granularity::kHead, Granularity::kLayer, Granularity::kGlobal,
                 Granularity::kHeadOracle, Granularity::kHeadMass})
    if (granularity_name(g) == name) return g;
  throw std::invalid_argument(fmt::format("granularity '{}': expected head | layer | global | "
                                          "head_oracle | head_mass", name));
}

std::string calibration_source_name(CalibrationSource s) {
  return s == CalibrationSource::kGate ? "gate" : "oracle";
}

ScoreCut choose_score_cut(const float* s, int64_t n, double want) {
  if (n <= 0) return {0, 0.0f};
  const double w = std::clamp(want, 0.0, static_cast<double>(n));
  auto tau_for = [&](int64_t c) -> float {
    if (c == 0) return s[0];  // nothing is above the largest score
    if (c == n) return std::nextafter(s[n - 1], -std::numeric_limits<float>::infinity());
    return float_between(s[c], s[c - 1]);
  };
  // The nearest count, halves rounded down (the sparser cut).
  const int64_t m = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(w - 0.5)), 0, n);
  if (m == 0 || m == n || s[m - 1] > s[m]) return {m, tau_for(m)};
  // Entries m-1 and m tie: the value is kept or dropped as a whole. Cut before or after it.
  const float v = s[m];
  const int64_t above = std::partition_point(s, s + n, [v](float x) { return x > v; }) - s;
  const int64_t at_least = std::partition_point(s, s + n, [v](float x) { return x >= v; }) - s;
  const int64_t c = std::abs(static_cast<double>(above) - w) <= std::abs(static_cast<double>(at_least) - w)
                        ? above : at_least;
  return {c, tau_for(c)};
}

ThresholdCalibrator::ThresholdCalibrator(MaskOptions rules) : rules_(rules) {
  rules_.keep_diagonal = true;
}

void ThresholdCalibrator::add(int64_t layer, const at::Tensor& p, const at::Tensor& g,
                              const BlockGeometry& geo_in) {
  const int64_t B = geo_in.batch, Hq = geo_in.heads, nbq = geo_in.nbq(), nbk = geo_in.nbk();
  auto check = [&](const at::Tensor& t, const char* name) {
    TORCH_CHECK(t.dim() == 4 && t.size(0) == B && t.size(1) == Hq && t.size(2) == nbq &&
                    t.size(3) == nbk,
                "ThresholdCalibrator::add: ", name, " must be [B=", B, ", Hq=", Hq, ", nbq=", nbq,
                ", nbk=", nbk, "], got ", t.sizes());
  };
  TORCH_CHECK(g.defined(), "ThresholdCalibrator::add: the ground truth G is required");
  check(g, "G");
  if (p.defined()) check(p, "P");
  TORCH_CHECK(layer >= 0, "ThresholdCalibrator::add: layer ", layer, " < 0");
  if (heads_ == 0) heads_ = Hq;
  TORCH_CHECK(heads_ == Hq, "ThresholdCalibrator::add: ", Hq, " heads, earlier calls had ", heads_);
  has_p_ = has_p_ && p.defined();

  BlockGeometry geo = geo_in;
  geo.device = at::kCPU;
  if (geo.seq_lens) geo.seq_lens = geo.seq_lens->to(at::kCPU);
  const at::Tensor causal = causal_block_mask(geo).expand({B, Hq, nbq, nbk});
  const at::Tensor forced = finalize_block_mask(at::zeros({1, 1, nbq, nbk}, at::kBool), geo, rules_);
  const at::Tensor free = causal.logical_and(forced.logical_not());
  const at::Tensor gf = g.to(at::kCPU, at::kFloat);
  const at::Tensor row_sum = gf.masked_fill(causal.logical_not(), 0.0f).sum(-1, /*keepdim=*/true);
  const at::Tensor has_mass = row_sum > 0;
  const at::Tensor share =
      at::where(has_mass, gf / at::where(has_mass, row_sum, at::ones_like(row_sum)),
                at::zeros_like(gf)).masked_fill(causal.logical_not(), 0.0f);
  const at::Tensor pf = p.defined() ? p.to(at::kCPU, at::kFloat) : at::Tensor();

  auto& groups = layers_[layer];
  if (groups.empty()) groups.resize(Hq);
  for (int64_t h = 0; h < Hq; ++h) {
    Group& gr = groups[h];
    const at::Tensor free_h = free.select(1, h);
    if (pf.defined()) append_selected(gr.p, pf.select(1, h), free_h);
    append_selected(gr.g, gf.select(1, h), free_h);
    append_selected(gr.share, share.select(1, h), free_h);
    gr.causal += causal.select(1, h).sum().item<int64_t>();
    gr.forced += forced.select(1, h).sum().item<int64_t>();
    gr.forced_share +=
        share.select(1, h).masked_select(forced.select(1, h)).sum(at::kDouble).item<double>();
    gr.rows += has_mass.select(1, h).sum().item<int64_t>();
  }
}

const std::vector<ThresholdCalibrator::Group>& ThresholdCalibrator::layer(int64_t l) const {
  auto it = layers_.find(l);
  if (it == layers_.end())
    throw std::invalid_argument(fmt::format("ThresholdCalibrator: no maps for layer {} (layers "
                                            "must be 0 .. L-1)", l));
  return it->second;
}

double ThresholdCalibrator::forced_only_sparsity() const {
  int64_t forced = 0, causal = 0;
  for (const auto& [l, groups] : layers_)
    for (const auto& g : groups) {
      forced += g.forced;
      causal += g.causal;
    }
  return sparsity_of(forced, causal);
}

int64_t ThresholdCalibrator::bytes() const {
  int64_t n = 0;
  for (const auto& [l, groups] : layers_)
    for (const auto& g : groups) n += static_cast<int64_t>(g.p.size() + g.g.size() + g.share.size());
  return n * static_cast<int64_t>(sizeof(float));
}

std::vector<CalibrationPoint> ThresholdCalibrator::calibrate(
    CalibrationSource source, Granularity granularity, const std::vector<double>& targets) const {
  const int64_t L = num_layers();
  if (L == 0) throw std::invalid_argument("ThresholdCalibrator: nothing collected");
  if (source == CalibrationSource::kGate && !has_p_)
    throw std::invalid_argument("ThresholdCalibrator: the gate source needs gate scores P in "
                                "every add()");
  for (double t : targets)
    if (!(t >= 0.0 && t <= 1.0))
      throw std::invalid_argument(fmt::format("ThresholdCalibrator: target sparsity {} outside "
                                              "[0, 1]", t));
  auto scores_of = [&](const Group& g) -> const std::vector<float>& {
    return source == CalibrationSource::kGate ? g.p : g.g;
  };

  // The partition of (layer, head) groups that share one threshold.
  const bool per_head = granularity == Granularity::kHead ||
                        granularity == Granularity::kHeadOracle ||
                        granularity == Granularity::kHeadMass;
  std::vector<std::vector<std::pair<int64_t, int64_t>>> parts;
  for (int64_t l = 0; l < L; ++l) {
    layer(l);  // throws on a gap in the layers
    for (int64_t h = 0; h < heads_; ++h) {
      if (per_head || parts.empty() || (granularity == Granularity::kLayer && h == 0))
        parts.emplace_back();
      parts.back().emplace_back(l, h);
    }
  }
  // head_oracle: the free blocks each head keeps under the global threshold on G, per target.
  std::vector<std::map<std::pair<int64_t, int64_t>, int64_t>> oracle_kept;
  if (granularity == Granularity::kHeadOracle) {
    for (const auto& pt : calibrate(CalibrationSource::kOracle, Granularity::kGlobal, targets)) {
      auto& kept = oracle_kept.emplace_back();
      for (int64_t l = 0; l < L; ++l)
        for (int64_t h = 0; h < heads_; ++h) {
          const float tau = pt.tau[l][h];
          const auto& g = layers_.at(l)[h].g;
          kept[{l, h}] = std::count_if(g.begin(), g.end(), [tau](float x) { return x > tau; });
        }
    }
  }

  // head_mass: the free blocks per head that keep the most G mass in the source's order.
  std::vector<std::map<std::pair<int64_t, int64_t>, int64_t>> mass_kept;
  if (granularity == Granularity::kHeadMass) {
    std::vector<RankedGroup> ranked;
    int64_t causal = 0, forced = 0;
    for (int64_t l = 0; l < L; ++l)
      for (const Group& g : layers_.at(l)) {
        ranked.push_back({scores_of(g), g.share});
        causal += g.causal;
        forced += g.forced;
      }
    std::vector<int64_t> budgets;
    for (double t : targets)
      budgets.push_back(std::llround((1.0 - t) * static_cast<double>(causal)) - forced);
    for (const auto& counts : mass_optimal_counts(ranked, budgets)) {
      auto& kept = mass_kept.emplace_back();
      for (int64_t l = 0, i = 0; l < L; ++l)
        for (int64_t h = 0; h < heads_; ++h, ++i) kept[{l, h}] = counts[i];
    }
  }

  std::vector<CalibrationPoint> out(targets.size());
  for (size_t t = 0; t < targets.size(); ++t) {
    out[t].source = source;
    out[t].granularity = granularity;
    out[t].target = targets[t];
    out[t].tau.assign(L, std::vector<float>(heads_, 0.0f));
  }
  std::vector<float> pooled;
  for (const auto& part : parts) {
    pooled.clear();
    int64_t causal = 0, forced = 0;
    for (const auto& [l, h] : part) {
      const Group& g = layers_.at(l)[h];
      const auto& s = scores_of(g);
      pooled.insert(pooled.end(), s.begin(), s.end());
      causal += g.causal;
      forced += g.forced;
    }
    std::sort(pooled.begin(), pooled.end(), std::greater<float>());
    for (size_t t = 0; t < targets.size(); ++t) {
      double want = (1.0 - targets[t]) * static_cast<double>(causal) - static_cast<double>(forced);
      if (!oracle_kept.empty()) want = static_cast<double>(oracle_kept[t].at(part.front()));
      if (!mass_kept.empty()) want = static_cast<double>(mass_kept[t].at(part.front()));
      const ScoreCut cut = choose_score_cut(pooled.data(), static_cast<int64_t>(pooled.size()), want);
      for (const auto& [l, h] : part) out[t].tau[l][h] = cut.tau;
    }
  }

  // What each threshold keeps, counted group by group (the cut, checked against the same compare
  // as the policy's), per layer and in total, and the G mass it keeps.
  for (auto& pt : out) {
    int64_t kept_all = 0, causal_all = 0, rows_all = 0;
    double mass_all = 0.0;
    pt.layer_achieved.assign(L, 0.0);
    for (int64_t l = 0; l < L; ++l) {
      int64_t kept_l = 0, causal_l = 0;
      const auto& groups = layers_.at(l);
      for (int64_t h = 0; h < heads_; ++h) {
        const Group& g = groups[h];
        const auto& s = scores_of(g);
        const float tau = pt.tau[l][h];
        int64_t kept = g.forced;
        double mass = g.forced_share;
        for (size_t i = 0; i < s.size(); ++i) {
          if (s[i] > tau) {
            ++kept;
            mass += g.share[i];
          }
        }
        kept_l += kept;
        causal_l += g.causal;
        mass_all += mass;
        rows_all += g.rows;
      }
      pt.layer_achieved[l] = sparsity_of(kept_l, causal_l);
      kept_all += kept_l;
      causal_all += causal_l;
    }
    pt.achieved = sparsity_of(kept_all, causal_all);
    pt.g_mass_kept = rows_all > 0 ? mass_all / static_cast<double>(rows_all) : 0.0;
  }
  return out;
}

}  // namespace seer::core
