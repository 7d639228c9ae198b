// Perplexity at equal measured sparsity: log-perplexity interpolated linearly in sparsity
// (exact on data linear in log-perplexity), no extrapolation, ties at one sparsity, a family with
// one point, dense as the reference, and the three output formats.
#include "analysis/equal_sparsity.h"
#include "catch.h"

#include <fmt/format.h>

#include <cmath>

using namespace seer;
using seer::test::Contains;

TEST_CASE("equal-sparsity interpolation is exact on log-linear data and never extrapolates",
          "[eval]") {
  // log ppl = 3 + 2 s, measured at 40%, 60%, 90% (given out of order).
  auto lp = [](double s) { return std::exp(3.0 + 2.0 * s); };
  const std::vector<analysis::MeasuredPoint> pts = {
      {"tau=0.01", 0.6, lp(0.6)}, {"tau=0.001", 0.4, lp(0.4)}, {"tau=0.1", 0.9, lp(0.9)}};
  const auto e = analysis::interpolate_at_sparsity(pts, {0.3, 0.4, 0.5, 0.7, 0.9, 0.95});
  REQUIRE(e.size() == 6);
  CHECK_FALSE(e[0].ppl);
  CHECK_THAT(e[0].why, Contains("below the measured range 40.0%-90.0%"));
  REQUIRE(e[1].ppl);
  CHECK(*e[1].ppl == Approx(lp(0.4)).epsilon(1e-12));
  CHECK(e[1].below->label == "tau=0.001");
  CHECK(e[1].above->label == "tau=0.001");
  for (int i : {2, 3}) {
    CAPTURE(i);
    REQUIRE(e[i].ppl);
    CHECK(*e[i].ppl == Approx(lp(e[i].target)).epsilon(1e-12));
  }
  CHECK(e[2].below->label == "tau=0.001");
  CHECK(e[2].above->label == "tau=0.01");
  CHECK(e[3].below->sparsity == 0.6);
  CHECK(e[3].above->sparsity == 0.9);
  CHECK(*e[4].ppl == Approx(lp(0.9)).epsilon(1e-12));
  CHECK_FALSE(e[5].ppl);
  CHECK_THAT(e[5].why, Contains("above the measured range"));

  // Not linear in ppl: the midpoint is the geometric mean, not the arithmetic one.
  const auto mid = analysis::interpolate_at_sparsity({{"a", 0.0, 10.0}, {"b", 1.0, 40.0}}, {0.5});
  CHECK(*mid[0].ppl == Approx(20.0).epsilon(1e-12));
}

TEST_CASE("equal-sparsity: ties, one point, no points", "[eval]") {
  // Two settings at the same sparsity count as one point with their mean log-perplexity.
  const auto tie = analysis::interpolate_at_sparsity(
      {{"a", 0.5, 10.0}, {"b", 0.5, 40.0}, {"c", 0.7, 20.0}}, {0.5, 0.6});
  REQUIRE(tie[0].ppl);
  CHECK(*tie[0].ppl == Approx(20.0).epsilon(1e-12));
  CHECK(tie[0].below->label == "a | b");
  CHECK(*tie[1].ppl == Approx(20.0).epsilon(1e-12));
  const auto one = analysis::interpolate_at_sparsity({{"k=4", 0.8, 30.0}}, {0.8, 0.9});
  REQUIRE(one[0].ppl);
  CHECK(*one[0].ppl == 30.0);
  CHECK_FALSE(one[1].ppl);
  CHECK_THAT(one[1].why, Contains("one measured point (80.0%)"));
  const auto none = analysis::interpolate_at_sparsity({}, {0.5});
  CHECK_FALSE(none[0].ppl);
  CHECK_THAT(none[0].why, Contains("not measured"));
}

TEST_CASE("equal-sparsity table: families per context, dense as the reference, gates kept apart",
          "[eval]") {
  std::vector<analysis::SweepPoint> cells = {
      {"dense", "dense", "", 2048, 0.0, 30.0},
      {"gate", "gate tau=0.01", "", 2048, 0.6, 31.0},
      {"gate", "gate tau=0.1", "", 2048, 0.9, 37.0},
      {"gate_baseline", "gate_baseline tau=0.01", "distill_baseline", 2048, 0.5, 31.5},
      {"gate_baseline", "gate_baseline tau=0.1", "distill_baseline", 2048, 0.95, 40.0},
      {"streaming", "streaming local_blocks=4", "", 2048, 0.72, 33.0},
      {"dense", "dense", "", 4096, 0.0, 29.0},
      {"gate", "gate tau=0.01", "", 4096, 0.7, 30.0},
  };
  const auto t = analysis::equal_sparsity_table(cells, {0.5, 0.7, 0.8, 0.9, 0.95});
  REQUIRE(t.contexts == std::vector<int64_t>{2048, 4096});
  REQUIRE(t.dense.size() == 2);
  CHECK(t.dense[0].second.ppl == 30.0);
  REQUIRE(t.rows.size() == 4);   // gate, gate_baseline, streaming at 2048; gate at 4096
  CHECK(t.rows[1].method == "gate_baseline");
  CHECK(t.rows[1].gates == "distill_baseline");
  CHECK(*t.rows[1].estimates[0].ppl == Approx(31.5));
  CHECK(t.rows[0].estimates[4].why.find("above") != std::string::npos);
  const auto md = t.to_markdown("Perplexity at equal measured sparsity");
  CHECK_THAT(md, Contains("#### context 2048 (dense 30.000)"));
  CHECK_THAT(md, Contains("| gate_baseline (gates: distill_baseline) |"));
  CHECK_THAT(md, Contains("— (one measured point (72.0%))"));
  CHECK_THAT(md, Contains("[60.0%: 31.000 · 90.0%: 37.000]"));
  // 70% of the gate at 2048: exp(lerp(log 31, log 37, 1/3)); +x% over dense 30.
  const double g70 = std::exp(std::log(31.0) + (std::log(37.0) - std::log(31.0)) / 3.0);
  CHECK_THAT(md, Contains(fmt::format("**{:.3f}** ({:+.1f}%)", g70, 100.0 * (g70 / 30.0 - 1.0))));
  const auto csv = t.to_csv();
  CHECK_THAT(csv, Contains("2048,gate_baseline,distill_baseline,0.5,31.5,0.05,"));
  const auto j = t.to_json();
  CHECK(j["rows"].size() == 4);
  CHECK(j["dense"]["4096"]["ppl"] == 29.0);
  CHECK(j["rows"][3]["estimates"][1]["ppl"] == 30.0);
  CHECK(j["rows"][3]["estimates"][0]["ppl"].is_null());
}
