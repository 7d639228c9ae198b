// Calibrated thresholds against a brute-force float64 reference on random block maps (odd S,
// several heads, batch > 1, padded batches, chunked calls, sink and dense-last-rows rules): for
// each granularity and target, the sparsity the calibrated policy's masks reach is the closest
// any threshold can reach (the sparser one on a tie), the reported sparsity is what those masks
// measure, and the G mass kept is the mean over rows of the kept share. Also the cut chooser on
// lists with ties.
#include "catch.h"
#include "gates_test_util.h"

#include "core/sparsity/mass_allocation.h"
#include "core/sparsity/sparsity_policy.h"
#include "core/sparsity/sparsity_stats.h"
#include "core/sparsity/threshold_calibration.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>

using namespace seer;
using core::BlockGeometry;
using core::CalibrationSource;
using core::Granularity;

namespace {

// Equal to within rounding of sums of counts (no relative slack: one block must show).
Approx exact(double x) { return Approx(x).epsilon(0).margin(1e-12); }

// Kept counts a threshold can make on `v` (any order): 0, n, and every count where the sorted
// list steps down.
std::vector<int64_t> achievable_counts(std::vector<float> v) {
  std::sort(v.begin(), v.end(), std::greater<float>());
  std::vector<int64_t> out = {0};
  for (size_t c = 1; c < v.size(); ++c)
    if (v[c - 1] > v[c]) out.push_back(static_cast<int64_t>(c));
  if (!v.empty()) out.push_back(static_cast<int64_t>(v.size()));
  return out;
}

// The best sparsity a threshold can reach for a group: closest to target, sparser on a tie.
double best_sparsity(const std::vector<float>& free_scores, int64_t causal, int64_t forced,
                     double target) {
  double best = -1, best_err = std::numeric_limits<double>::infinity();
  for (int64_t c : achievable_counts(free_scores)) {
    const double s = 1.0 - static_cast<double>(forced + c) / static_cast<double>(causal);
    const double err = std::abs(s - target);
    if (err < best_err - 1e-12 || (std::abs(err - best_err) <= 1e-12 && s > best)) {
      best = s;
      best_err = err;
    }
  }
  return best;
}

struct Case {
  int64_t B, Hq, S, b, chunk;   // chunk 0 = one call per sequence
  bool keep_sink;
  int64_t dense_last_rows;
  bool padded;
};

struct Call {
  int64_t layer;
  BlockGeometry geo;
  at::Tensor p, g;   // [B, Hq, nbq, nbk] float32
};

// Random row-stochastic maps over each row's causal blocks, with ties (a third of the entries
// rounded to a coarse grid), zeros outside the causal region.
at::Tensor random_map(const BlockGeometry& geo, at::Generator& gen) {
  auto causal = core::causal_block_mask(geo).expand({geo.batch, geo.heads, geo.nbq(), geo.nbk()});
  auto x = at::rand({geo.batch, geo.heads, geo.nbq(), geo.nbk()}, gen, at::kDouble);
  x = at::pow(x, 4.0);   // skewed, like attention
  auto coarse = at::rand(x.sizes(), gen, at::kDouble) < 0.33;
  x = at::where(coarse, at::round(x * 8) / 8, x).masked_fill(causal.logical_not(), 0.0);
  auto sum = x.sum(-1, true);
  x = at::where(sum > 0, x / at::where(sum > 0, sum, at::ones_like(sum)), x);
  return x.to(at::kFloat);
}

std::vector<Call> make_calls(const Case& c, int64_t layers, at::Generator& gen) {
  std::vector<Call> calls;
  for (int64_t l = 0; l < layers; ++l) {
    const int64_t step = c.chunk > 0 ? c.chunk : c.S;
    for (int64_t start = 0; start < c.S; start += step) {
      const int64_t sq = std::min(step, c.S - start);
      BlockGeometry geo = gates_test::geometry(sq, start + sq, c.b, c.Hq, c.B);
      if (c.padded) {
        std::vector<int64_t> lens;
        for (int64_t i = 0; i < c.B; ++i) lens.push_back(std::max<int64_t>(1, c.S - 37 * i));
        geo.seq_lens = at::tensor(lens, at::kLong);
      }
      calls.push_back(Call{l, geo, random_map(geo, gen), random_map(geo, gen)});
    }
  }
  return calls;
}

// Per (layer, head): free scores, causal and forced counts, by plain loops over the rules.
struct RefGroup {
  std::vector<float> gate, oracle;
  int64_t causal = 0, forced = 0;
};

std::map<std::pair<int64_t, int64_t>, RefGroup> reference_groups(const std::vector<Call>& calls,
                                                                 const Case& c) {
  std::map<std::pair<int64_t, int64_t>, RefGroup> out;
  for (const auto& call : calls) {
    const auto& geo = call.geo;
    auto p = call.p.accessor<float, 4>();
    auto g = call.g.accessor<float, 4>();
    for (int64_t bi = 0; bi < geo.batch; ++bi) {
      const int64_t valid = geo.seq_lens ? (geo.seq_lens.value()[bi].item<int64_t>() + c.b - 1) / c.b
                                         : geo.nbk();
      for (int64_t h = 0; h < geo.heads; ++h) {
        RefGroup& r = out[{call.layer, h}];
        for (int64_t i = 0; i < geo.nbq(); ++i) {
          const int64_t row = i + geo.q_block_offset();
          if (row >= valid) continue;
          for (int64_t j = 0; j <= row; ++j) {
            ++r.causal;
            const bool forced = j == row || (c.keep_sink && j == 0) ||
                                (c.dense_last_rows > 0 && row >= valid - c.dense_last_rows);
            if (forced) {
              ++r.forced;
            } else {
              r.gate.push_back(p[bi][h][i][j]);
              r.oracle.push_back(g[bi][h][i][j]);
            }
          }
        }
      }
    }
  }
  return out;
}

// Mean over rows with G mass of the kept share of the row's G, in float64, from the masks.
double g_mass_kept(const std::vector<Call>& calls, const std::vector<at::Tensor>& masks) {
  double sum = 0;
  int64_t rows = 0;
  for (size_t k = 0; k < calls.size(); ++k) {
    const auto causal = core::causal_block_mask(calls[k].geo).expand(masks[k].sizes());
    const auto g = calls[k].g.to(at::kDouble).masked_fill(causal.logical_not(), 0.0);
    const auto total = g.sum(-1);
    const auto kept = g.masked_fill(masks[k].logical_not(), 0.0).sum(-1);
    const auto has = total > 0;
    sum += (kept.masked_select(has) / total.masked_select(has)).sum().item<double>();
    rows += has.sum().item<int64_t>();
  }
  return sum / rows;
}

}  // namespace

TEST_CASE("choose_score_cut picks the reachable count nearest the wish", "[gates][sparsity]") {
  auto gen = at::detail::createCPUGenerator(7);
  const int64_t n = GENERATE(1, 2, 7, 40);
  const int trial = GENERATE(0, 1, 2);
  CAPTURE(n, trial);
  auto t = at::floor(at::rand({n}, gen) * (trial == 0 ? 3 : 1000)) / 7;   // trial 0: many ties
  std::vector<float> v(t.data_ptr<float>(), t.data_ptr<float>() + n);
  std::sort(v.begin(), v.end(), std::greater<float>());
  const auto counts = achievable_counts(v);
  for (double want : {-3.0, 0.0, 0.49, 0.5, 1.5, n / 3.0, n / 2.0 + 0.5, n - 0.5, double(n), n + 2.0}) {
    CAPTURE(want);
    const core::ScoreCut cut = core::choose_score_cut(v.data(), n, want);
    // The threshold keeps exactly `kept` entries...
    int64_t above = 0;
    for (float x : v) above += x > cut.tau;
    CHECK(above == cut.kept);
    // ... and no reachable count is nearer the (clamped) wish, nor as near and smaller.
    const double w = std::clamp(want, 0.0, double(n));
    for (int64_t c : counts) {
      CAPTURE(c, cut.kept);
      CHECK(std::abs(c - w) >= std::abs(cut.kept - w) - 1e-12);
      if (std::abs(std::abs(c - w) - std::abs(cut.kept - w)) < 1e-12) CHECK(cut.kept <= c);
    }
  }
  CHECK(core::choose_score_cut(nullptr, 0, 3.0).kept == 0);
}

TEST_CASE("calibrated thresholds hit their targets as closely as any threshold can",
          "[gates][sparsity]") {
  const Case c = GENERATE(Case{1, 1, 63, 16, 0, false, 0, false},
                          Case{2, 3, 200, 16, 64, true, 0, false},
                          Case{3, 2, 129, 32, 0, true, 1, true},
                          Case{1, 4, 300, 16, 128, false, 2, false});
  CAPTURE(c.B, c.Hq, c.S, c.b, c.chunk, c.keep_sink, c.dense_last_rows, c.padded);
  const int64_t layers = 3;
  auto gen = at::detail::createCPUGenerator(1234 + c.S);
  const auto calls = make_calls(c, layers, gen);
  core::MaskOptions rules;
  rules.keep_sink = c.keep_sink;
  rules.dense_last_rows = c.dense_last_rows;
  core::ThresholdCalibrator calib(rules);
  for (const auto& call : calls) calib.add(call.layer, call.p, call.g, call.geo);
  REQUIRE(calib.num_layers() == layers);
  CHECK(calib.bytes() > 0);
  const auto ref = reference_groups(calls, c);

  const std::vector<double> targets = {0.0, 0.3, 0.5, 0.8, 0.95, 1.0};
  for (const auto source : {CalibrationSource::kGate, CalibrationSource::kOracle}) {
    for (const auto gran : {Granularity::kHead, Granularity::kLayer, Granularity::kGlobal,
                            Granularity::kHeadOracle, Granularity::kHeadMass}) {
      const auto points = calib.calibrate(source, gran, targets);
      REQUIRE(points.size() == targets.size());
      for (const auto& pt : points) {
        CAPTURE(core::calibration_source_name(source), core::granularity_name(gran), pt.target);
        // Replay the calibration maps through the policy that reads the thresholds.
        core::ThresholdTable table;
        table.tau = pt.tau;
        table.block_size = c.b;
        table.keep_sink = c.keep_sink;
        table.dense_last_rows = c.dense_last_rows;
        const auto score_source = source == CalibrationSource::kGate ? core::ScoreSource::kGate
                                                                     : core::ScoreSource::kOracle;
        core::CalibratedThresholdPolicy policy(score_source, table);
        core::SparsityStats stats;
        std::vector<at::Tensor> masks;
        for (const auto& call : calls) {
          core::SparsityInputs in;
          in.geo = call.geo;
          in.layer = call.layer;
          in.gate_scores = call.p;
          in.ground_truth = call.g;
          masks.push_back(policy.mask(in));
          stats.add(call.layer, masks.back(), call.geo);
        }
        CHECK(pt.achieved == exact(stats.overall()));
        for (int64_t l = 0; l < layers; ++l)
          CHECK(pt.layer_achieved[l] == exact(stats.layer(l)));
        CHECK(pt.g_mass_kept == Approx(g_mass_kept(calls, masks)).margin(1e-5));

        // Each group sharing a threshold is as close to the target as any threshold gets it.
        auto group_best = [&](const std::vector<std::pair<int64_t, int64_t>>& members) {
          std::vector<float> free;
          int64_t causal = 0, forced = 0;
          for (const auto& m : members) {
            const RefGroup& r = ref.at(m);
            const auto& s = source == CalibrationSource::kGate ? r.gate : r.oracle;
            free.insert(free.end(), s.begin(), s.end());
            causal += r.causal;
            forced += r.forced;
          }
          return best_sparsity(free, causal, forced, pt.target);
        };
        if (gran == Granularity::kHead) {
          for (int64_t l = 0; l < layers; ++l)
            for (int64_t h = 0; h < c.Hq; ++h) {
              CAPTURE(l, h);
              CHECK(stats.heads(l)[h] == exact(group_best({{l, h}})));
            }
        } else if (gran == Granularity::kLayer) {
          for (int64_t l = 0; l < layers; ++l) {
            std::vector<std::pair<int64_t, int64_t>> members;
            for (int64_t h = 0; h < c.Hq; ++h) members.emplace_back(l, h);
            CAPTURE(l);
            CHECK(stats.layer(l) == exact(group_best(members)));
            for (int64_t h = 1; h < c.Hq; ++h) CHECK(pt.tau[l][h] == pt.tau[l][0]);
          }
        } else if (gran == Granularity::kGlobal) {
          std::vector<std::pair<int64_t, int64_t>> members;
          for (const auto& [key, r] : ref) members.push_back(key);
          CHECK(stats.overall() == exact(group_best(members)));
        } else if (gran == Granularity::kHeadMass) {
          // Each head keeps the reachable count nearest to the mass-optimal allocation of the
          // target's budget (the maps are row-stochastic, so a block's row share is its G).
          std::vector<core::RankedGroup> ranked;
          int64_t causal = 0, forced = 0;
          for (const auto& [key, r] : ref) {
            ranked.push_back({source == CalibrationSource::kGate ? r.gate : r.oracle, r.oracle});
            causal += r.causal;
            forced += r.forced;
          }
          const int64_t budget = std::llround((1.0 - pt.target) * causal) - forced;
          const auto counts = core::mass_optimal_counts(ranked, {budget})[0];
          size_t i = 0;
          for (const auto& [key, r] : ref) {
            CAPTURE(key.first, key.second);
            const double want = static_cast<double>(counts[i++]);
            int64_t best = -1;
            for (int64_t n : achievable_counts(source == CalibrationSource::kGate ? r.gate : r.oracle))
              if (best < 0 || std::abs(n - want) < std::abs(best - want) - 1e-12) best = n;
            CHECK(stats.heads(key.first)[key.second] ==
                  exact(1.0 - static_cast<double>(r.forced + best) / static_cast<double>(r.causal)));
          }
        } else {
          // Each head keeps the reachable count nearest to what the global threshold on G keeps
          // in that head (checked above as the global granularity).
          const auto global =
              calib.calibrate(CalibrationSource::kOracle, Granularity::kGlobal, {pt.target})[0];
          for (int64_t l = 0; l < layers; ++l)
            for (int64_t h = 0; h < c.Hq; ++h) {
              CAPTURE(l, h);
              const RefGroup& r = ref.at({l, h});
              const float tau_o = global.tau[l][h];
              const double want = static_cast<double>(
                  std::count_if(r.oracle.begin(), r.oracle.end(), [&](float x) { return x > tau_o; }));
              const auto& own = source == CalibrationSource::kGate ? r.gate : r.oracle;
              int64_t best = -1;
              for (int64_t n : achievable_counts(own))
                if (best < 0 || std::abs(n - want) < std::abs(best - want) - 1e-12) best = n;
              CHECK(stats.heads(l)[h] ==
                    exact(1.0 - static_cast<double>(r.forced + best) / static_cast<double>(r.causal)));
            }
        }
      }
    }
  }
  // The forced blocks alone: what a threshold above every score leaves.
  int64_t forced = 0, causal = 0;
  for (const auto& [key, r] : ref) {
    forced += r.forced;
    causal += r.causal;
  }
  CHECK(calib.forced_only_sparsity() == exact(1.0 - double(forced) / causal));
}

TEST_CASE("calibration input errors", "[gates][sparsity]") {
  core::ThresholdCalibrator calib({});
  const auto geo = gates_test::geometry(16, 16, 4, 2);
  auto g = at::rand({1, 2, 4, 4});
  CHECK(gates_test::contains(gates_test::error_message([&] {
    calib.calibrate(CalibrationSource::kOracle, Granularity::kHead, {0.5});
  }), "nothing collected"));
  CHECK(gates_test::contains(gates_test::error_message([&] {
    calib.add(0, at::Tensor(), at::rand({1, 2, 4, 5}), geo);
  }), "G must be [B=1, Hq=2, nbq=4, nbk=4]"));
  calib.add(0, at::Tensor(), g, geo);
  calib.add(2, at::Tensor(), g, geo);
  CHECK(gates_test::contains(gates_test::error_message([&] {
    calib.calibrate(CalibrationSource::kOracle, Granularity::kHead, {0.5});
  }), "no maps for layer 1"));
  calib.add(1, at::Tensor(), g, geo);
  CHECK(gates_test::contains(gates_test::error_message([&] {
    calib.calibrate(CalibrationSource::kGate, Granularity::kHead, {0.5});
  }), "gate source needs gate scores"));
  CHECK(gates_test::contains(gates_test::error_message([&] {
    calib.calibrate(CalibrationSource::kOracle, Granularity::kHead, {1.5});
  }), "outside [0, 1]"));
  CHECK(calib.calibrate(CalibrationSource::kOracle, Granularity::kGlobal, {0.5}).size() == 1);
}
