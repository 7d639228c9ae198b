// AttnGate's learned distance bias (GateConfig::distance_buckets): the bucket rule written out by
// hand, logits with the bias against the same gate's logits without it plus a float64 lookup
// (odd S, GQA, batch 2, a chunk's query offset, query sub-blocks), the gradient reaching each
// bucket exactly as often as the bucket is used, and the gate files (round trip, no reference
// layout, a missing bias tensor named).
#include "catch.h"

#include "core/config/config_reader.h"
#include "core/gate/attn_gate.h"
#include "core/gate/gate_config.h"
#include "core/gate/gate_file.h"
#include "core/gate/gate_set.h"
#include "core/io/atomic_file.h"
#include "gates_test_util.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <vector>

using namespace seer;

namespace {

core::GateConfig bias_config(int64_t block, int64_t hidden, int64_t buckets, int64_t subblocks = 1) {
  core::GateConfig c;
  c.block_size = block;
  c.hidden_size = hidden;
  c.distance_buckets = buckets;
  c.q_subblocks = subblocks;
  return c;
}

// The same weights without the bias (a gate of the paper's form).
core::AttnGate without_bias(const core::AttnGate& g) {
  auto cfg = g.config();
  cfg.distance_buckets = 0;
  return core::AttnGate(cfg, g.shape(), g.rope(), g.wq(), g.wk());
}

}  // namespace

TEST_CASE("distance_bucket: exact near, one bucket per octave, the last takes the rest",
          "[gates]") {
  // n = 16: distances 0-7 exact, [8,16) 8, [16,32) 9, ... [512,1024) 14, >= 1024 15.
  for (int64_t d = 0; d < 8; ++d) CHECK(core::distance_bucket(d, 16) == d);
  CHECK(core::distance_bucket(8, 16) == 8);
  CHECK(core::distance_bucket(15, 16) == 8);
  CHECK(core::distance_bucket(16, 16) == 9);
  CHECK(core::distance_bucket(31, 16) == 9);
  CHECK(core::distance_bucket(32, 16) == 10);
  CHECK(core::distance_bucket(1023, 16) == 14);
  CHECK(core::distance_bucket(1024, 16) == 15);
  CHECK(core::distance_bucket(1 << 20, 16) == 15);
  // n = 5 (odd): h = 2; 0, 1, [2,4) 2, [4,8) 3, >= 8 4.
  const std::vector<int64_t> want5 = {0, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4};
  for (int64_t d = 0; d < static_cast<int64_t>(want5.size()); ++d)
    CHECK(core::distance_bucket(d, 5) == want5[d]);
  // n = 2: the diagonal against everything else.
  CHECK(core::distance_bucket(0, 2) == 0);
  CHECK(core::distance_bucket(1, 2) == 1);
  CHECK(core::distance_bucket(500, 2) == 1);
  CHECK_THROWS(core::distance_bucket(-1, 16));
  CHECK_THROWS(core::distance_bucket(3, 1));
}

TEST_CASE("distance bias: logits are the plain gate's plus bias[h, bucket(i - j)]", "[gates]") {
  struct Case {
    int64_t B, S, Hq, Hkv, block, buckets, subblocks, q_offset_blocks;
  };
  // Odd S (a partial last block), GQA, batch 2, buckets that saturate (n = 6: >= 24 blocks share
  // bucket 5), a chunk whose queries start 3 blocks in. (With query sub-blocks the logits are the
  // max of the sub-rows' log-softmax, not additive: the next test covers that path.)
  const std::vector<Case> cases = {{2, 16 * 37 + 5, 4, 2, 16, 6, 1, 0},
                                   {1, 16 * 29 + 11, 6, 3, 16, 16, 1, 3},
                                   {2, 32 * 9 + 7, 2, 1, 32, 5, 1, 0}};
  for (const auto& c : cases) {
    CAPTURE(c.B, c.S, c.Hq, c.Hkv, c.block, c.buckets, c.subblocks, c.q_offset_blocks);
    auto gen = at::detail::createCPUGenerator(11 + c.S);
    const int64_t D = 8;
    auto gate = core::AttnGate::init(bias_config(c.block, 16, c.buckets, c.subblocks),
                                     {c.Hq, c.Hkv, D}, gates_test::default_rope(10000.0), gen);
    gate.to(at::kCPU, at::kDouble);
    {
      at::NoGradGuard no_grad;
      gate.distance_bias().normal_(0.0, 1.0, gen);   // zeros at init would test nothing
    }
    auto q = at::randn({c.B, c.S, c.Hq, D}, gen, at::kDouble);
    auto k = at::randn({c.B, c.S, c.Hkv, D}, gen, at::kDouble);
    auto pooled = gate.pool(q, k);
    // The chunk's queries: the pooled rows of its blocks only, the keys of everything before.
    const int64_t rows_per_block = c.subblocks, nbk = pooled.k.size(1);
    auto qp = pooled.q.narrow(1, c.q_offset_blocks * rows_per_block,
                              pooled.q.size(1) - c.q_offset_blocks * rows_per_block);
    auto with = gate.logits(qp, pooled.k, c.q_offset_blocks);
    auto plain = without_bias(gate).logits(qp, pooled.k, c.q_offset_blocks);
    REQUIRE(with.sizes() == plain.sizes());
    auto bias = gate.distance_bias().accessor<double, 2>();
    auto w = with.accessor<double, 4>();
    auto p = plain.accessor<double, 4>();
    int64_t checked = 0;
    for (int64_t b = 0; b < c.B; ++b)
      for (int64_t h = 0; h < c.Hq; ++h)
        for (int64_t i = 0; i < with.size(2); ++i) {
          const int64_t qi = i + c.q_offset_blocks;
          for (int64_t j = 0; j < nbk; ++j) {
            if (j > qi) {
              CHECK(std::isinf(w[b][h][i][j]));
              continue;
            }
            const double want = p[b][h][i][j] + bias[h][core::distance_bucket(qi - j, c.buckets)];
            CHECK(std::abs(w[b][h][i][j] - want) <= 1e-12 * (1.0 + std::abs(want)));
            ++checked;
          }
        }
    CHECK(checked > 0);
  }
}

TEST_CASE("distance bias with query sub-blocks: added to each sub-row before its softmax",
          "[gates]") {
  // A bias equal in every bucket shifts each sub-row's logits by a constant, which its
  // log-softmax removes: the block's logits are the plain gate's. A bias that differs by bucket
  // changes them.
  const int64_t B = 2, S = 32 * 9 + 7, Hq = 4, Hkv = 2, D = 8, n = 5;
  auto gen = at::detail::createCPUGenerator(21);
  auto gate = core::AttnGate::init(bias_config(32, 16, n, 2), {Hq, Hkv, D},
                                   gates_test::default_rope(10000.0), gen);
  gate.to(at::kCPU, at::kDouble);
  auto q = at::randn({B, S, Hq, D}, gen, at::kDouble);
  auto k = at::randn({B, S, Hkv, D}, gen, at::kDouble);
  auto pooled = gate.pool(q, k);
  auto plain = without_bias(gate).logits(pooled.q, pooled.k);
  auto finite = at::isfinite(plain);
  {
    at::NoGradGuard no_grad;
    gate.distance_bias().fill_(0.7);
  }
  auto shifted = gate.logits(pooled.q, pooled.k);
  CHECK(at::equal(at::isfinite(shifted), finite));
  CHECK(at::allclose(shifted.masked_fill(finite.logical_not(), 0.0),
                     plain.masked_fill(finite.logical_not(), 0.0), 1e-12, 1e-12));
  {
    at::NoGradGuard no_grad;
    gate.distance_bias().normal_(0.0, 1.0, gen);
  }
  auto moved = gate.logits(pooled.q, pooled.k).masked_fill(finite.logical_not(), 0.0);
  CHECK((moved - plain.masked_fill(finite.logical_not(), 0.0)).abs().max().item<double>() > 1e-3);
}

TEST_CASE("distance bias: zero at init, a parameter, its gradient counts each bucket's uses",
          "[gates]") {
  const int64_t B = 2, S = 16 * 21 + 3, Hq = 4, Hkv = 2, D = 8, n = 8;
  auto gen = at::detail::createCPUGenerator(5);
  auto cfg = bias_config(16, 16, n);
  auto gate = core::AttnGate::init(cfg, {Hq, Hkv, D}, gates_test::default_rope(10000.0), gen);
  REQUIRE(gate.distance_bias().defined());
  CHECK(gate.distance_bias().sizes() == at::IntArrayRef({Hq, n}));
  CHECK(at::equal(gate.distance_bias(), at::zeros({Hq, n})));
  CHECK(gate.parameters().size() == 3);
  // The same seed draws the same wq, wk as a gate without the bias: the two start identical.
  auto gen2 = at::detail::createCPUGenerator(5);
  auto plain = core::AttnGate::init(bias_config(16, 16, 0), {Hq, Hkv, D},
                                    gates_test::default_rope(10000.0), gen2);
  CHECK(at::equal(plain.wq(), gate.wq()));
  CHECK(at::equal(plain.wk(), gate.wk()));
  auto q = at::randn({B, S, Hq, D}, gen);
  auto k = at::randn({B, S, Hkv, D}, gen);
  auto pooled = gate.pool(q, k);
  CHECK(at::equal(gate.scores(pooled.q, pooled.k), plain.scores(pooled.q, pooled.k)));

  // d(sum of the finite logits) / d bias[h, m] = B x the number of causal (i, j) in bucket m.
  gate.set_requires_grad(true);
  auto logits = gate.logits(pooled.q, pooled.k);
  auto finite = at::isfinite(logits);
  logits.masked_fill(finite.logical_not(), 0.0).sum().backward();
  const int64_t nb = (S + 15) / 16;
  std::vector<double> uses(n, 0.0);
  for (int64_t i = 0; i < nb; ++i)
    for (int64_t j = 0; j <= i; ++j) uses[core::distance_bucket(i - j, n)] += B;
  auto grad = gate.distance_bias().grad();
  REQUIRE(grad.defined());
  for (int64_t h = 0; h < Hq; ++h)
    for (int64_t m = 0; m < n; ++m) CHECK(grad[h][m].item<double>() == Approx(uses[m]));
}

TEST_CASE("distance bias: config check, gate file round trip, no reference layout",
          "[gates][gate_file]") {
  for (const char* text : {"gate: {distance_buckets: 1}", "gate: {distance_buckets: -2}",
                           "gate: {distance_buckets: 65}"}) {
    const config::ConfigTree bad(YAML::Load(text));
    CHECK_THROWS_WITH(core::parse_gate_config(config::ConfigReader(bad, "gate")),
                      seer::test::Contains("distance_buckets"));
  }
  const config::ConfigTree good(YAML::Load("gate: {distance_buckets: 16}"));
  CHECK(core::parse_gate_config(config::ConfigReader(good, "gate")).distance_buckets == 16);

  auto gen = at::detail::createCPUGenerator(9);
  core::GateSet set;
  set.config = bias_config(16, 16, 6);
  set.shape = {4, 2, 8};
  set.rope = gates_test::default_rope(10000.0);
  set.base_model = "toy";
  for (int l = 0; l < 2; ++l) {
    set.layers.push_back(core::AttnGate::init(set.config, set.shape, set.rope, gen));
    at::NoGradGuard no_grad;
    set.layers.back().distance_bias().normal_(0.0, 1.0, gen);
  }
  const auto dir = std::filesystem::temp_directory_path() / "seer_distance_bias_gates";
  std::filesystem::remove_all(dir);
  core::save_gates(set, dir / "ours");
  const auto back = core::load_gates(dir / "ours");
  CHECK(back.config.distance_buckets == 6);
  for (int l = 0; l < 2; ++l) {
    CHECK(at::equal(back.layers[l].distance_bias(), set.layers[l].distance_bias()));
    CHECK(at::equal(back.layers[l].wk(), set.layers[l].wk()));
  }
  CHECK_THROWS_WITH(core::export_reference_gates(set, dir / "ref"),
                    seer::test::Contains("distance_buckets = 6"));

  // A folder whose gates.json asks for a bias its weights lack: the missing tensor is named.
  core::GateSet plain = set;
  plain.config.distance_buckets = 0;
  plain.layers.clear();
  for (const auto& g : set.layers)
    plain.layers.emplace_back(plain.config, set.shape, set.rope, g.wq(), g.wk());
  core::save_gates(plain, dir / "lacking");
  auto j = nlohmann::json::parse(io::read_file(dir / "lacking" / "gates.json"));
  j["distance_buckets"] = 6;
  io::write_file_atomic(dir / "lacking" / "gates.json", j.dump());
  CHECK_THROWS_WITH(core::load_gates(dir / "lacking"),
                    seer::test::Contains(core::distance_bias_tensor_name(0)));
  std::filesystem::remove_all(dir);
}
