// Sparsity policies against hand-computed masks (threshold, top-k and its forced-block rules,
// oracle, streaming, random, calibrated thresholds, options), top-k nz_ratio against the
// reference's rule, vertical-slash against a token-level brute force, sparsity statistics, and
// parsing of every configs/sparsity/*.yaml and thresholds.json entries.
#include "catch.h"
#include "gates_test_util.h"

#include "core/config/config_error.h"
#include "core/config/config_reader.h"
#include "core/sparsity/sparsity_policy.h"
#include "core/sparsity/sparsity_stats.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

using namespace seer;
using core::BlockGeometry;
using gates_test::geometry;

namespace {

// rows of 0/1 -> bool [1, 1, n, m]
at::Tensor mask_of(const std::vector<std::vector<int>>& rows) {
  const int64_t n = rows.size(), m = rows[0].size();
  auto t = at::zeros({1, 1, n, m}, at::kBool);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) t[0][0][i][j] = rows[i][j] != 0;
  return t;
}

// The example scores of the tests (a 4 x 4 block map, b = 4, S = 16).
at::Tensor example_scores() {
  return at::tensor({1.0, 0.0, 0.0, 0.0,
                     0.3, 0.7, 0.0, 0.0,
                     0.5, 0.1, 0.4, 0.0,
                     0.1, 0.25, 0.15, 0.5}, at::kDouble).view({1, 1, 4, 4});
}

void check_mask(const at::Tensor& got, const at::Tensor& want) {
  INFO("got\n" << got.to(at::kInt) << "\nwant\n" << want.to(at::kInt));
  CHECK(at::equal(got, want.expand(got.sizes())));
}

}  // namespace

TEST_CASE("threshold and top-k masks match hand-computed examples", "[gates][sparsity]") {
  core::SparsityInputs in;
  in.geo = geometry(16, 16);
  in.gate_scores = example_scores();

  check_mask(core::ThresholdPolicy(0.2, core::ScoreSource::kGate).mask(in),
             mask_of({{1, 0, 0, 0}, {1, 1, 0, 0}, {1, 0, 1, 0}, {0, 1, 0, 1}}));
  core::MaskOptions sink;
  sink.keep_sink = true;
  check_mask(core::ThresholdPolicy(0.2, core::ScoreSource::kGate, sink).mask(in),
             mask_of({{1, 0, 0, 0}, {1, 1, 0, 0}, {1, 0, 1, 0}, {1, 1, 0, 1}}));
  core::MaskOptions last;
  last.dense_last_rows = 1;
  check_mask(core::ThresholdPolicy(0.45, core::ScoreSource::kGate, last).mask(in),
             mask_of({{1, 0, 0, 0}, {0, 1, 0, 0}, {1, 0, 1, 0}, {1, 1, 1, 1}}));
  // Diagonal kept even when its score is below tau.
  check_mask(core::ThresholdPolicy(0.6, core::ScoreSource::kGate).mask(in),
             mask_of({{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}));

  check_mask(core::TopkPolicy(1, 0.0, core::ScoreSource::kGate).mask(in),
             mask_of({{1, 0, 0, 0}, {0, 1, 0, 0}, {1, 0, 1, 0}, {0, 0, 0, 1}}));
  check_mask(core::TopkPolicy(2, 0.0, core::ScoreSource::kGate).mask(in),
             mask_of({{1, 0, 0, 0}, {1, 1, 0, 0}, {1, 0, 1, 0}, {0, 1, 0, 1}}));
  // keep_ratio 0.5 of 1, 2, 3, 4 causal blocks: max(1, round) = 1, 1, 2, 2.
  check_mask(core::TopkPolicy(0, 0.5, core::ScoreSource::kGate).mask(in),
             mask_of({{1, 0, 0, 0}, {0, 1, 0, 0}, {1, 0, 1, 0}, {0, 1, 0, 1}}));

  SECTION("oracle reads G, not P") {
    core::SparsityInputs o;
    o.geo = in.geo;
    o.ground_truth = example_scores();
    check_mask(core::TopkPolicy(1, 0.0, core::ScoreSource::kOracle).mask(o),
               mask_of({{1, 0, 0, 0}, {0, 1, 0, 0}, {1, 0, 1, 0}, {0, 0, 0, 1}}));
    check_mask(core::ThresholdPolicy(0.2, core::ScoreSource::kOracle).mask(o),
               mask_of({{1, 0, 0, 0}, {1, 1, 0, 0}, {1, 0, 1, 0}, {0, 1, 0, 1}}));
    CHECK_THROWS(core::TopkPolicy(1, 0.0, core::ScoreSource::kGate).mask(o));
  }
  SECTION("chunked queries: rows are absolute blocks 2 and 3") {
    core::SparsityInputs c;
    c.geo = geometry(8, 16);
    c.gate_scores = example_scores().narrow(2, 2, 2);
    check_mask(core::TopkPolicy(1, 0.0, core::ScoreSource::kGate).mask(c),
               mask_of({{1, 0, 1, 0}, {0, 0, 0, 1}}));
  }
  SECTION("padded batch: rows and blocks past a sequence's end stay empty") {
    core::SparsityInputs p;
    p.geo = geometry(16, 16, 4, 1, 2);
    p.geo.seq_lens = at::tensor({16, 7}, at::kLong);  // second sequence: 2 blocks
    p.gate_scores = example_scores().expand({2, 1, 4, 4});
    auto m = core::DensePolicy().mask(p);
    check_mask(m[0].unsqueeze(0), mask_of({{1, 0, 0, 0}, {1, 1, 0, 0}, {1, 1, 1, 0}, {1, 1, 1, 1}}));
    check_mask(m[1].unsqueeze(0), mask_of({{1, 0, 0, 0}, {1, 1, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}}));
  }
}

TEST_CASE("streaming and dense masks match hand-computed examples", "[gates][sparsity]") {
  core::SparsityInputs in;
  in.geo = geometry(20, 20);  // 5 blocks, the last one partial
  check_mask(core::StreamingPolicy(1, 2).mask(in),
             mask_of({{1, 0, 0, 0, 0}, {1, 1, 0, 0, 0}, {1, 1, 1, 0, 0}, {1, 0, 1, 1, 0},
                      {1, 0, 0, 1, 1}}));
  check_mask(core::StreamingPolicy(0, 1).mask(in),
             mask_of({{1, 0, 0, 0, 0}, {0, 1, 0, 0, 0}, {0, 0, 1, 0, 0}, {0, 0, 0, 1, 0},
                      {0, 0, 0, 0, 1}}));
  check_mask(core::DensePolicy().mask(in),
             mask_of({{1, 0, 0, 0, 0}, {1, 1, 0, 0, 0}, {1, 1, 1, 0, 0}, {1, 1, 1, 1, 0},
                      {1, 1, 1, 1, 1}}));
}

TEST_CASE("random masks keep the asked share per row, seeded", "[gates][sparsity]") {
  core::SparsityInputs in;
  in.geo = geometry(64 * 4, 64 * 4, 4, 3, 2);  // 64 blocks, 3 heads, batch 2
  core::MaskOptions raw;
  raw.keep_diagonal = false;
  auto m = core::RandomPolicy(0.25, 7, raw).mask(in);
  auto per_row = m.sum(-1).to(at::kLong);  // [2, 3, 64]
  for (int64_t i = 0; i < 64; ++i) {
    const int64_t want = std::max<int64_t>(1, std::llround(0.25 * (i + 1)));
    // round-half-even differs from llround only on .5 cases; accept both neighbours there
    const int64_t got = per_row[0][0][i].item<int64_t>();
    CAPTURE(i, got, want);
    CHECK(std::abs(got - want) <= (std::fmod(0.25 * (i + 1), 1.0) == 0.5 ? 1 : 0));
  }
  CHECK(at::equal(m, core::RandomPolicy(0.25, 7, raw).mask(in)));
  CHECK_FALSE(at::equal(m, core::RandomPolicy(0.25, 8, raw).mask(in)));
  in.layer = 1;
  CHECK_FALSE(at::equal(m, core::RandomPolicy(0.25, 7, raw).mask(in)));
  CHECK_FALSE(at::equal(m[0][0], m[0][1]));  // heads differ
}

TEST_CASE("vertical-slash mask matches a token-level brute force", "[gates][sparsity]") {
  const int64_t S = GENERATE(13, 32, 45);
  const int64_t g = GENERATE(1, 2);
  CAPTURE(S, g);
  const int64_t b = 4, D = 8, Hkv = 2, Hq = Hkv * g, nv = 3, ns = 4;
  auto gen = at::detail::createCPUGenerator(S * 7 + g);
  auto q = at::randn({1, S, Hq, D}, gen, at::kDouble) * 2.0;
  auto k = at::randn({1, S, Hkv, D}, gen, at::kDouble) * 2.0;
  core::SparsityInputs in;
  in.geo = BlockGeometry::of(q, k, b);
  in.q = q;
  in.k = k;
  core::VerticalSlashOptions vs;
  vs.vertical_size = nv;
  vs.slash_size = ns;
  core::MaskOptions raw;
  raw.keep_diagonal = false;
  auto m = core::VerticalSlashPolicy(vs, raw).mask(in);

  const int64_t nb = (S + b - 1) / b, start = ((S - 1) / b) * b;
  for (int64_t h = 0; h < Hq; ++h) {
    // Last block's attention, plain loops.
    std::vector<double> vert(S, 0.0), slash(S, 0.0);
    for (int64_t r = start; r < S; ++r) {
      std::vector<double> s(r + 1);
      double mx = -1e300, z = 0;
      for (int64_t c = 0; c <= r; ++c) {
        double dot = 0;
        for (int64_t x = 0; x < D; ++x)
          dot += q[0][r][h][x].item<double>() * k[0][c][h / g][x].item<double>();
        s[c] = dot / std::sqrt(double(D));
        mx = std::max(mx, s[c]);
      }
      for (int64_t c = 0; c <= r; ++c) z += std::exp(s[c] - mx);
      for (int64_t c = 0; c <= r; ++c) {
        const double a = std::exp(s[c] - mx) / z;
        vert[c] += a;
        slash[r - c] += a;
      }
    }
    auto top = [](std::vector<double> v, int64_t n) {
      std::set<int64_t> out;
      for (int64_t t = 0; t < n; ++t) {
        auto it = std::max_element(v.begin(), v.end());
        out.insert(it - v.begin());
        *it = -1.0;
      }
      return out;
    };
    auto cols = top(vert, nv), offs = top(slash, ns);
    for (int64_t i = 0; i < nb; ++i)
      for (int64_t j = 0; j <= i; ++j) {
        bool keep = false;
        for (auto c : cols) keep |= c / b == j;
        for (int64_t r = i * b; r < (i + 1) * b; ++r)  // block level: all rows of the block
          for (auto o : offs) keep |= r - o >= 0 && (r - o) / b == j;
        CAPTURE(h, i, j);
        CHECK(m[0][h][i][j].item<bool>() == keep);
      }
  }
}

TEST_CASE("sparsity statistics count kept over causal blocks", "[gates][sparsity]") {
  core::SparsityStats stats;
  auto geo = geometry(16, 16, 4, 2);
  auto m = at::cat({mask_of({{1, 0, 0, 0}, {0, 1, 0, 0}, {1, 0, 1, 0}, {0, 0, 0, 1}}),
                    mask_of({{1, 0, 0, 0}, {1, 1, 0, 0}, {1, 1, 1, 0}, {1, 1, 1, 1}})}, 1);
  stats.add(3, m, geo);
  CHECK(stats.causal_blocks() == 20);
  CHECK(stats.kept_blocks() == 15);
  CHECK(stats.heads(3)[0] == Approx(1.0 - 5.0 / 10.0));
  CHECK(stats.heads(3)[1] == Approx(0.0));
  CHECK(stats.layer(3) == Approx(0.25));
  // A second layer with everything above the diagonal set: only causal blocks count.
  stats.add(5, at::ones({1, 2, 4, 4}, at::kBool), geo);
  CHECK(stats.layer(5) == Approx(0.0));
  CHECK(stats.overall() == Approx(5.0 / 40.0));
  CHECK(stats.layers() == std::vector<int64_t>{3, 5});
  CHECK(stats.to_json().find("\"overall\"") != std::string::npos);
  core::SparsityStats other;
  other.merge(stats);
  CHECK(other.overall() == Approx(stats.overall()));
  // Counts wait on the device until read: adds before and after a read both count, a merge of
  // unread counts carries them, and clear() drops unread ones too.
  core::SparsityStats lazy;
  CHECK(lazy.empty());
  lazy.add(3, m, geo);
  CHECK_FALSE(lazy.empty());
  lazy.add(3, m, geo);
  CHECK(lazy.kept_blocks() == 30);
  lazy.add(3, m, geo);
  core::SparsityStats merged;
  merged.merge(lazy);
  CHECK(merged.kept_blocks() == 45);
  CHECK(merged.causal_blocks() == 60);
  lazy.add(4, m, geo);
  lazy.clear();
  CHECK(lazy.empty());
  CHECK(lazy.kept_blocks() == 0);
}

TEST_CASE("every configs/sparsity file parses, bad keys are rejected", "[gates][sparsity][config]") {
  const std::filesystem::path dir = std::filesystem::path(SEER_SOURCE_DIR) / "configs/sparsity";
  std::set<std::string> names;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    CAPTURE(f.path().string());
    YAML::Node root;
    root["sparsity"] = YAML::LoadFile(f.path().string());
    config::ConfigTree tree(root);
    auto p = core::parse_sparsity_policy(config::ConfigReader(tree, "sparsity"));
    CHECK(p->name() == f.path().stem().string());
    names.insert(p->name());
  }
  for (const char* want : {"dense", "threshold", "topk", "oracle_topk", "top_p", "oracle_top_p",
                           "gate_oracle_count", "streaming", "vertical_slash", "random"})
    CHECK(names.count(want) == 1);

  auto parse = [](const std::string& text) {
    YAML::Node root;
    root["sparsity"] = YAML::Load(text);
    config::ConfigTree tree(root);
    return core::parse_sparsity_policy(config::ConfigReader(tree, "sparsity"));
  };
  auto error_of = [&](const std::string& text) -> std::string {
    try {
      parse(text);
    } catch (const config::ConfigError& e) {
      return e.what();
    }
    return "<no error>";
  };
  const auto unknown = error_of("{policy: topk, keep_ratio: 0.2, tau: 0.1}");
  CHECK(unknown.find("sparsity.tau") != std::string::npos);
  CHECK(unknown.find("unknown key") != std::string::npos);
  CHECK(error_of("{policy: top_k}").find("sparsity.policy") != std::string::npos);
  CHECK(error_of("{policy: threshold}").find("sparsity.tau") != std::string::npos);
  CHECK(error_of("{policy: topk, keep_ratio: 1.5}").find("keep_ratio") != std::string::npos);
  CHECK(error_of("{policy: top_p, mass: 0}").find("sparsity.mass") != std::string::npos);
  CHECK(error_of("{policy: gate_oracle_count}").find("sparsity.tau") != std::string::npos);
}

TEST_CASE("top-k forced-block rules match hand-computed examples", "[gates][sparsity]") {
  core::SparsityInputs in;
  in.geo = geometry(16, 16);
  in.gate_scores = example_scores();
  auto topk = [&](int64_t k, core::ForcedBlocks rule, bool sink = false) {
    core::MaskOptions o;
    o.keep_sink = sink;
    return core::TopkPolicy(core::TopkCount{k, 0.0, 0.0}, rule, core::ScoreSource::kGate, o).mask(in);
  };
  // Added: row 2's best block is 0, the diagonal comes on top.
  check_mask(topk(1, core::ForcedBlocks::kAdded),
             mask_of({{1, 0, 0, 0}, {0, 1, 0, 0}, {1, 0, 1, 0}, {0, 0, 0, 1}}));
  // Inside: the diagonal uses the one slot.
  check_mask(topk(1, core::ForcedBlocks::kInside),
             mask_of({{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}));
  check_mask(topk(2, core::ForcedBlocks::kInside),
             mask_of({{1, 0, 0, 0}, {1, 1, 0, 0}, {1, 0, 1, 0}, {0, 1, 0, 1}}));
  check_mask(topk(2, core::ForcedBlocks::kInside, true),
             mask_of({{1, 0, 0, 0}, {1, 1, 0, 0}, {1, 0, 1, 0}, {1, 0, 0, 1}}));
  // k = 1 with the sink and the diagonal forced: both stay (the row keeps its forced blocks).
  check_mask(topk(1, core::ForcedBlocks::kInside, true),
             mask_of({{1, 0, 0, 0}, {1, 1, 0, 0}, {1, 0, 1, 0}, {1, 0, 0, 1}}));
  // Scored (the reference): row 2 keeps block 0 and not its diagonal.
  check_mask(topk(1, core::ForcedBlocks::kScored),
             mask_of({{1, 0, 0, 0}, {0, 1, 0, 0}, {1, 0, 0, 0}, {0, 0, 0, 1}}));
  CHECK_THROWS(topk(1, core::ForcedBlocks::kScored, true));
}

TEST_CASE("top-k nz_ratio follows the reference's rule", "[gates][sparsity]") {
  // get_sparse_attn_mask_from_nz_ratio: k = max(1, int((1 - sqrt(1 - nz)) * nb)) for every row,
  // the k best of the row (masked blocks rank last), nothing forced, then the last
  // `last_rows` rows dense, then causal.
  const int64_t nb = GENERATE(1, 5, 13);
  const int64_t B = GENERATE(1, 2);
  const double nz = GENERATE(0.1, 0.3, 0.5, 0.9, 1.0);
  const int64_t last_rows = GENERATE(0, 2);
  CAPTURE(nb, B, nz, last_rows);
  const int64_t b = 16, H = 3;
  auto gen = at::detail::createCPUGenerator(nb * 100 + B);
  core::SparsityInputs in;
  in.geo = geometry(nb * b - 5, nb * b - 5, b, H, B);   // a partial last block
  in.gate_scores = at::rand({B, H, nb, nb}, gen, at::kFloat);
  core::MaskOptions o;
  o.dense_last_rows = last_rows;
  const auto got = core::TopkPolicy(core::TopkCount{0, 0.0, nz}, core::ForcedBlocks::kScored,
                                    core::ScoreSource::kGate, o).mask(in);
  const int64_t k = std::max<int64_t>(1, static_cast<int64_t>((1.0 - std::sqrt(1.0 - nz)) * nb));
  auto want = at::zeros({B, H, nb, nb}, at::kBool);
  auto s = in.gate_scores.accessor<float, 4>();
  for (int64_t bi = 0; bi < B; ++bi)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < nb; ++i) {
        std::vector<std::pair<float, int64_t>> row;
        for (int64_t j = 0; j < nb; ++j) row.emplace_back(j <= i ? s[bi][h][i][j] : -1e9f, j);
        std::sort(row.begin(), row.end(), [](auto& x, auto& y) { return x.first > y.first; });
        for (int64_t r = 0; r < k; ++r) want[bi][h][i][row[r].second] = true;
        if (i >= nb - last_rows)
          for (int64_t j = 0; j < nb; ++j) want[bi][h][i][j] = true;
        for (int64_t j = i + 1; j < nb; ++j) want[bi][h][i][j] = false;
      }
  check_mask(got, want);
}

TEST_CASE("calibrated_threshold masks use each layer and head's threshold", "[gates][sparsity]") {
  core::SparsityInputs in;
  in.geo = geometry(16, 16, 4, 2);
  in.gate_scores = example_scores().to(at::kFloat).expand({1, 2, 4, 4});
  core::ThresholdTable t;
  t.tau = {{0.2f, 0.45f}, {0.6f, 0.0f}};
  t.block_size = 4;
  core::CalibratedThresholdPolicy p(core::ScoreSource::kGate, t);
  auto m = p.mask(in);
  check_mask(m.narrow(1, 0, 1), mask_of({{1, 0, 0, 0}, {1, 1, 0, 0}, {1, 0, 1, 0}, {0, 1, 0, 1}}));
  check_mask(m.narrow(1, 1, 1), mask_of({{1, 0, 0, 0}, {0, 1, 0, 0}, {1, 0, 1, 0}, {0, 0, 0, 1}}));
  in.layer = 1;
  m = p.mask(in);
  check_mask(m.narrow(1, 0, 1), mask_of({{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}));
  check_mask(m.narrow(1, 1, 1), mask_of({{1, 0, 0, 0}, {1, 1, 0, 0}, {1, 1, 1, 0}, {1, 1, 1, 1}}));
  in.layer = 2;
  CHECK(gates_test::contains(gates_test::error_message([&] { p.mask(in); }), "cover 2 layers"));
  in.layer = 0;
  in.geo.block = 8;
  in.geo.sq = in.geo.sk = 32;
  CHECK(gates_test::contains(gates_test::error_message([&] { p.mask(in); }), "block size 8"));
  // The sink rule comes from the calibration.
  t.keep_sink = true;
  in.geo = geometry(16, 16, 4, 2);
  check_mask(core::CalibratedThresholdPolicy(core::ScoreSource::kGate, t).mask(in).narrow(1, 1, 1),
             mask_of({{1, 0, 0, 0}, {1, 1, 0, 0}, {1, 0, 1, 0}, {1, 0, 0, 1}}));
}

TEST_CASE("calibrated_threshold reads its entry of thresholds.json, errors name the key",
          "[gates][sparsity][config]") {
  const auto dir = gates_test::fresh_dir("calibrated_policy");
  // A real calibration of random maps at "context 64" (b = 16: 4 blocks).
  auto gen = at::detail::createCPUGenerator(3);
  core::MaskOptions rules;
  rules.keep_sink = true;
  core::ThresholdCalibrator calib(rules);
  const auto geo = geometry(64, 64, 16, 2);
  for (int64_t l = 0; l < 2; ++l) calib.add(l, at::rand({1, 2, 4, 4}, gen), at::rand({1, 2, 4, 4}, gen), geo);
  nlohmann::json points = nlohmann::json::array();
  std::vector<core::CalibrationPoint> layer_points;
  for (auto src : {core::CalibrationSource::kGate, core::CalibrationSource::kOracle})
    for (auto gran : {core::Granularity::kHead, core::Granularity::kLayer})
      for (const auto& pt : calib.calibrate(src, gran, {0.5, 0.8})) {
        points.push_back(core::calibration_point_json(pt));
        if (src == core::CalibrationSource::kGate && gran == core::Granularity::kLayer)
          layer_points.push_back(pt);
      }
  nlohmann::json doc = {{"format", core::kThresholdFileFormat}, {"block_size", 16},
                        {"keep_sink", true}, {"dense_last_rows", 0}, {"gates", "distill"},
                        {"gates_fingerprint", "abc"},
                        {"contexts", {{"64", {{"windows", 1}, {"points", points}}}}}};
  std::ofstream(dir / "thresholds.json") << doc.dump();

  core::PolicyResources res;
  res.threshold_file = [](const std::string& s) { return std::filesystem::path(s) / "thresholds.json"; };
  res.context = 64;
  auto parse = [&](const std::string& text, const core::PolicyResources& r) {
    YAML::Node root;
    root["sparsity"] = YAML::Load(text);
    config::ConfigTree tree(root);
    return core::parse_sparsity_policy(config::ConfigReader(tree, "sparsity"), r);
  };
  const std::string base = "{policy: calibrated_threshold, source: gate, thresholds: " +
                           dir.string() + ", granularity: layer, ";
  auto p = parse(base + "target_sparsity: 0.8}", res);
  const auto* cal = dynamic_cast<const core::CalibratedThresholdPolicy*>(p.get());
  REQUIRE(cal != nullptr);
  REQUIRE(cal->table() != nullptr);
  CHECK(cal->table()->tau == layer_points[1].tau);
  CHECK(cal->table()->calibrated_sparsity == layer_points[1].achieved);
  CHECK(cal->table()->keep_sink);
  CHECK(cal->table()->gates_fingerprint == "abc");
  CHECK(p->needs_gate());
  auto oracle = parse("{policy: calibrated_threshold, source: oracle, thresholds: " + dir.string() +
                      ", granularity: layer, target_sparsity: 0.5}", res);
  CHECK_FALSE(oracle->needs_gate());
  CHECK(oracle->needs_ground_truth());

  auto error_of = [&](const std::string& text, const core::PolicyResources& r) -> std::string {
    return gates_test::error_message([&] { parse(text, r); });
  };
  const auto no_target = error_of(base + "target_sparsity: 0.6}", res);
  CHECK(gates_test::contains(no_target, "sparsity.thresholds"));
  CHECK(gates_test::contains(no_target, "no gate thresholds at granularity layer for target sparsity 0.6"));
  core::PolicyResources other = res;
  other.context = 128;
  CHECK(gates_test::contains(error_of(base + "target_sparsity: 0.8}", other),
                             "no calibration at context 128 (it has [64])"));
  CHECK(parse(base + "target_sparsity: 0.8, calibration_context: 64}", other) != nullptr);
  CHECK(gates_test::contains(error_of(base + "target_sparsity: 0.8, keep_sink: false}", res),
                             "sparsity.keep_sink"));
  CHECK(gates_test::contains(error_of(base + "target_sparsity: 0.8, tau: 0.1}", res),
                             "sparsity.tau"));
  CHECK(gates_test::contains(error_of(base + "target_sparsity: 1.5}", res), "sparsity.target_sparsity"));
  CHECK(gates_test::contains(
      error_of("{policy: calibrated_threshold, source: gate, thresholds: x, granularity: heads, "
               "target_sparsity: 0.5}", res), "sparsity.granularity"));
  // Parsed without its file (config validation): fine until a mask is asked for.
  auto unbound = parse(base + "target_sparsity: 0.8}", {});
  core::SparsityInputs in;
  in.geo = geometry(64, 64, 16, 2);
  in.gate_scores = at::rand({1, 2, 4, 4});
  CHECK(gates_test::contains(gates_test::error_message([&] { unbound->mask(in); }), "not loaded"));
}

TEST_CASE("top-k keys: one of k, keep_ratio and nz_ratio; forced_blocks choices",
          "[gates][sparsity][config]") {
  auto error_of = [](const std::string& text) -> std::string {
    YAML::Node root;
    root["sparsity"] = YAML::Load(text);
    config::ConfigTree tree(root);
    return gates_test::error_message(
        [&] { core::parse_sparsity_policy(config::ConfigReader(tree, "sparsity")); });
  };
  CHECK(error_of("{policy: topk, nz_ratio: 0.2, forced_blocks: scored}") == "<no error>");
  CHECK(error_of("{policy: oracle_topk, k: 0, nz_ratio: 0.2, forced_blocks: inside, keep_sink: true}") ==
        "<no error>");
  CHECK(gates_test::contains(error_of("{policy: topk, nz_ratio: 0.2, keep_ratio: 0.1}"),
                             "sparsity.nz_ratio"));
  CHECK(gates_test::contains(error_of("{policy: topk, k: 3, nz_ratio: 0.2}"), "sparsity.nz_ratio"));
  CHECK(gates_test::contains(error_of("{policy: topk, nz_ratio: 0}"), "expected a density in (0, 1]"));
  CHECK(gates_test::contains(error_of("{policy: topk, k: 2, forced_blocks: outside}"),
                             "sparsity.forced_blocks"));
  CHECK(gates_test::contains(error_of("{policy: topk, k: 2, forced_blocks: scored, keep_sink: true}"),
                             "sparsity.keep_sink"));
}

namespace {

// Plain float64 reference of top-p and of "gate ranks, oracle counts" for one row: `order` is the
// rank order (forced blocks first, then by score descending, ties to the lower index).
std::vector<int64_t> rank_order(const std::vector<double>& score, const std::vector<bool>& forced,
                                const std::vector<bool>& causal) {
  std::vector<int64_t> idx;
  for (int64_t j = 0; j < static_cast<int64_t>(score.size()); ++j)
    if (causal[j]) idx.push_back(j);
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) {
    if (forced[a] != forced[b]) return static_cast<bool>(forced[a]);
    return score[a] > score[b];
  });
  return idx;
}

struct RowView {
  std::vector<double> p, g;
  std::vector<bool> forced, causal;
};

// Row (b, h, i) of random maps under geometry `geo`, forced = diagonal (+ sink).
RowView row_view(const at::Tensor& p, const at::Tensor& g, const BlockGeometry& geo, int64_t b,
                 int64_t h, int64_t i, bool sink) {
  RowView r;
  const int64_t nbk = geo.nbk(), qi = i + geo.q_block_offset();
  for (int64_t j = 0; j < nbk; ++j) {
    r.p.push_back(p[b][h][i][j].item<double>());
    r.g.push_back(g[b][h][i][j].item<double>());
    r.causal.push_back(j <= qi);
    r.forced.push_back(j == std::min(qi, nbk - 1) || (sink && j == 0));
  }
  return r;
}

}  // namespace

TEST_CASE("top_p and gate_oracle_count match a float64 row-by-row reference", "[gates][sparsity]") {
  auto gen = at::detail::createCPUGenerator(20261207);
  // (sq, sk, b, heads, batch): a square map, a chunk against a longer cache, S not a multiple of b.
  const std::vector<std::array<int64_t, 5>> shapes = {
      {64, 64, 8, 3, 2}, {24, 72, 8, 2, 1}, {50, 50, 8, 2, 3}};
  for (const auto& [sq, sk, b, heads, batch] : shapes) {
    for (const bool sink : {false, true}) {
      CAPTURE(sq, sk, b, heads, batch, sink);
      const auto geo = geometry(sq, sk, b, heads, batch);
      const int64_t nbq = geo.nbq(), nbk = geo.nbk();
      // Peaked rows (exponentials of wide normals) so that thresholds and masses cut mid-row.
      // (The sizes by value: C++17 lambdas cannot capture structured bindings; clang refuses.)
      const std::vector<int64_t> map_shape = {batch, heads, nbq, nbk};
      auto rand_map = [&] {
        auto x = at::empty(map_shape, at::kFloat).normal_(0.0, 2.0, gen).exp();
        return x / x.sum(-1, true);
      };
      const at::Tensor p = rand_map(), g = rand_map();
      core::SparsityInputs in;
      in.geo = geo;
      in.gate_scores = p;
      in.ground_truth = g;
      core::MaskOptions o;
      o.keep_sink = sink;
      const double mass = 0.7, tau = 0.08;
      const at::Tensor top_p = core::TopPPolicy(mass, core::ScoreSource::kGate, o).mask(in);
      const at::Tensor oracle_top_p = core::TopPPolicy(mass, core::ScoreSource::kOracle, o).mask(in);
      const at::Tensor counted = core::OracleCountPolicy(tau, o).mask(in);
      const at::Tensor oracle = core::ThresholdPolicy(tau, core::ScoreSource::kOracle, o).mask(in);
      int64_t kept_differs = 0;
      for (int64_t bb = 0; bb < batch; ++bb)
        for (int64_t h = 0; h < heads; ++h)
          for (int64_t i = 0; i < nbq; ++i) {
            const RowView r = row_view(p, g, geo, bb, h, i, sink);
            // top-p on P and on G.
            for (const bool use_g : {false, true}) {
              const auto& s = use_g ? r.g : r.p;
              const auto& got = use_g ? oracle_top_p : top_p;
              double total = 0.0;
              for (size_t j = 0; j < s.size(); ++j) total += r.causal[j] ? s[j] : 0.0;
              std::vector<bool> want(s.size(), false);
              double before = 0.0;
              for (int64_t j : rank_order(s, r.forced, r.causal)) {
                if (r.forced[j] || before < mass * total) want[j] = true;   // forced: always kept
                before += s[j];
              }
              for (int64_t j = 0; j < nbk; ++j) {
                INFO("top_p row " << bb << "," << h << "," << i << " block " << j << " use_g " << use_g);
                CHECK(got[bb][h][i][j].item<bool>() == want[j]);
              }
            }
            // The oracle's count, the gate's choice.
            int64_t count = 0;
            for (int64_t j = 0; j < nbk; ++j) count += oracle[bb][h][i][j].item<bool>();
            const auto order = rank_order(r.p, r.forced, r.causal);
            std::vector<bool> want(nbk, false);
            for (int64_t n = 0; n < count; ++n) want[order[n]] = true;
            int64_t got_count = 0;
            for (int64_t j = 0; j < nbk; ++j) {
              INFO("gate_oracle_count row " << bb << "," << h << "," << i << " block " << j);
              CHECK(counted[bb][h][i][j].item<bool>() == want[j]);
              got_count += counted[bb][h][i][j].item<bool>();
              kept_differs += counted[bb][h][i][j].item<bool>() != oracle[bb][h][i][j].item<bool>();
            }
            CHECK(got_count == count);
          }
      // P and G are independent: the gate's choice must differ from the oracle's somewhere, or
      // the test would not tell the two sources apart.
      CHECK(kept_differs > 0);
    }
  }
}

TEST_CASE("top_p keeps whole rows at mass 1 and the forced blocks at tiny mass", "[gates][sparsity]") {
  core::SparsityInputs in;
  in.geo = geometry(16, 16);
  in.gate_scores = example_scores();
  check_mask(core::TopPPolicy(1.0, core::ScoreSource::kGate).mask(in),
             mask_of({{1, 0, 0, 0}, {1, 1, 0, 0}, {1, 1, 1, 0}, {1, 1, 1, 1}}));
  check_mask(core::TopPPolicy(1e-6, core::ScoreSource::kGate).mask(in),
             mask_of({{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}));
  // Row 2: the diagonal's 0.4 first, then 0.5 brings it to 0.9 >= 0.8 of the row.
  // Row 3: 0.5 (diagonal), then 0.25 -> 0.75 < 0.8, then 0.15 -> 0.9.
  check_mask(core::TopPPolicy(0.8, core::ScoreSource::kGate).mask(in),
             mask_of({{1, 0, 0, 0}, {1, 1, 0, 0}, {1, 0, 1, 0}, {0, 1, 1, 1}}));
}
