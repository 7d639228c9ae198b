// AttnGate forward against a plain re-implementation (loops, float64): pooling, per-head maps,
// GQA sharing of the K gate, RoPE at each block's first token (also for chunked query offsets and
// padded batches), block-causal softmax; and the reference-checkpoint identity-Q corner.
#include "catch.h"

#include "core/gate/attn_gate.h"
#include "core/gate/gate_set.h"
#include "gates_test_util.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <limits>
#include <vector>

using namespace seer;
using kernels::PoolKind;

namespace {

// x [B, S, H, D] -> [B, nb, H, D * kinds], rows of the block only (ceil mode), plain loops.
at::Tensor pool_ref(const at::Tensor& x, int64_t b, const std::vector<PoolKind>& kinds,
                    const std::vector<int64_t>& lens) {
  const int64_t B = x.size(0), S = x.size(1), H = x.size(2), D = x.size(3);
  const int64_t nb = (S + b - 1) / b;
  auto out = at::zeros({B, nb, H, D * (int64_t)kinds.size()}, at::kDouble);
  auto xa = x.accessor<double, 4>();
  auto oa = out.accessor<double, 4>();
  for (int64_t bi = 0; bi < B; ++bi)
    for (int64_t j = 0; j < nb; ++j)
      for (int64_t h = 0; h < H; ++h)
        for (size_t kk = 0; kk < kinds.size(); ++kk)
          for (int64_t c = 0; c < D; ++c) {
            double acc = kinds[kk] == PoolKind::kAvg ? 0 : (kinds[kk] == PoolKind::kMax ? -1e300 : 1e300);
            int64_t n = 0;
            for (int64_t r = j * b; r < std::min(S, (j + 1) * b) && r < lens[bi]; ++r, ++n) {
              const double v = xa[bi][r][h][c];
              if (kinds[kk] == PoolKind::kAvg) acc += v;
              else if (kinds[kk] == PoolKind::kMax) acc = std::max(acc, v);
              else acc = std::min(acc, v);
            }
            if (n == 0) continue;  // padding block: never read by a valid row
            oa[bi][j][h][kk * D + c] = kinds[kk] == PoolKind::kAvg ? acc / n : acc;
          }
  return out;
}


// P [B, Hq, nbq, nbk] from pooled inputs, one (batch, head, row, column) at a time.
at::Tensor scores_ref(const at::Tensor& qp, const at::Tensor& kp, const at::Tensor& wq,
                      const at::Tensor& wk, int64_t b, int64_t q_off, double theta,
                      const std::vector<int64_t>& kv_blocks, size_t rope_dims = 0) {
  const int64_t B = qp.size(0), nbq = qp.size(1), Hq = qp.size(2), nbk = kp.size(1);
  const int64_t Hkv = kp.size(2), g = Hq / Hkv;
  const bool identity = !wq.defined();
  const int64_t d = wk.size(2);
  auto out = at::zeros({B, Hq, nbq, nbk}, at::kDouble);
  auto project = [](const at::Tensor& x, const at::Tensor& w) {  // x [in], w [in, d]
    std::vector<double> r(w.size(1), 0.0);
    auto xa = x.accessor<double, 1>();
    auto wa = w.accessor<double, 2>();
    for (int64_t o = 0; o < w.size(1); ++o)
      for (int64_t i = 0; i < w.size(0); ++i) r[o] += xa[i] * wa[i][o];
    return r;
  };
  for (int64_t bi = 0; bi < B; ++bi)
    for (int64_t h = 0; h < Hq; ++h) {
      const int64_t hk = h / g;
      for (int64_t i = 0; i < nbq; ++i) {
        std::vector<double> q;
        if (identity) {
          auto qa = qp[bi][i][h];
          for (int64_t c = 0; c < qa.size(0); ++c) q.push_back(qa[c].item<double>());
        } else {
          q = project(qp[bi][i][h], wq[h]);
        }
        q = gates_test::rope_ref(q, double((q_off + i) * b), theta, rope_dims);
        std::vector<double> logits(nbk, -std::numeric_limits<double>::infinity());
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < nbk; ++j) {
          if (j > q_off + i || j >= kv_blocks[bi]) continue;
          auto k = gates_test::rope_ref(project(kp[bi][j][hk], identity ? wk[h] : wk[hk]),
                                        double(j * b), theta, rope_dims);
          double dot = 0;
          for (int64_t c = 0; c < d; ++c) dot += q[c] * k[c];
          logits[j] = dot / std::sqrt(double(d));
          mx = std::max(mx, logits[j]);
        }
        double z = 0;
        for (int64_t j = 0; j < nbk; ++j) z += std::exp(logits[j] - mx);
        for (int64_t j = 0; j < nbk; ++j) out[bi][h][i][j] = std::exp(logits[j] - mx) / z;
      }
    }
  return out;
}


}  // namespace

TEST_CASE("AttnGate scores match a plain re-implementation", "[gates][attn_gate]") {
  const int64_t S = GENERATE(1, 15, 16, 17, 70);
  const int64_t g = GENERATE(1, 3);
  const int64_t B = GENERATE(1, 2);
  const int64_t b = 16, D = 8, Hkv = 2, Hq = Hkv * g, d = 6;
  CAPTURE(S, g, B);
  core::GateConfig cfg;
  cfg.block_size = b;
  cfg.hidden_size = d;
  cfg.q_pools = {PoolKind::kAvg};
  cfg.k_pools = {PoolKind::kMax, PoolKind::kMin, PoolKind::kAvg};
  cfg.seed = 1234 + S;
  cfg.init_std = 0.5;  // large enough that the scores are far from uniform
  const double theta = 500.0;  // small base: phases turn fast, so a wrong position shows
  auto gen = at::detail::createCPUGenerator(77 + S * 10 + g);
  auto gate = core::AttnGate::init(cfg, {Hq, Hkv, D}, gates_test::default_rope(theta), gen);
  gate.to(at::kCPU, at::kDouble);

  auto q = at::randn({B, S, Hq, D}, gen, at::kDouble);
  auto k = at::randn({B, S, Hkv, D}, gen, at::kDouble);
  std::vector<int64_t> lens(B, S);
  auto pooled = gate.pool(q, k);
  REQUIRE(pooled.q.sizes() == at::IntArrayRef({B, (S + b - 1) / b, Hq, D}));
  REQUIRE(pooled.k.sizes() == at::IntArrayRef({B, (S + b - 1) / b, Hkv, 3 * D}));
  CHECK(at::allclose(pooled.q, pool_ref(q, b, cfg.q_pools, lens), 1e-12, 1e-12));
  CHECK(at::allclose(pooled.k, pool_ref(k, b, cfg.k_pools, lens), 1e-12, 1e-12));

  const int64_t nb = (S + b - 1) / b;
  std::vector<int64_t> kv_blocks(B, nb);
  auto p = gate.scores(pooled.q, pooled.k);
  auto want = scores_ref(pooled.q, pooled.k, gate.wq(), gate.wk(), b, 0, theta, kv_blocks);
  const double err = (p - want).abs().max().item<double>();
  CAPTURE(err);
  CHECK(err < 5e-5);  // RoPE phases are float32 as in HF (error ~1e-7 x position); the rest float64
  // Rows sum to one, nothing above the diagonal.
  CHECK(at::allclose(p.sum(-1), at::ones({B, Hq, nb}, at::kDouble), 1e-12, 1e-12));
  CHECK(p.triu(1).abs().max().item<double>() == 0.0);

  SECTION("chunked queries: later query blocks against the whole key cache") {
    if (nb < 2) return;
    const int64_t off = nb / 2;
    auto q_chunk = pooled.q.narrow(1, off, nb - off);
    auto pc = gate.scores(q_chunk, pooled.k, off);
    CHECK((pc - p.narrow(2, off, nb - off)).abs().max().item<double>() < 1e-12);
  }
  SECTION("padded batch: key blocks past a sequence's length get no score") {
    std::vector<int64_t> kvb(B, nb);
    kvb[0] = std::max<int64_t>(1, nb - 1);
    auto kvb_t = at::tensor(kvb, at::kLong);
    auto pp = gate.scores(pooled.q, pooled.k, 0, kvb_t);
    auto want_p = scores_ref(pooled.q, pooled.k, gate.wq(), gate.wk(), b, 0, theta, kvb);
    CHECK((pp - want_p).abs().max().item<double>() < 5e-5);
  }
  SECTION("GQA: the query heads of a group share one K gate") {
    if (g == 1) return;
    // Changing one KV head's map changes exactly its g query heads.
    auto wk2 = gate.wk().clone();
    wk2[0].add_(1.0);
    core::AttnGate other(cfg, {Hq, Hkv, D}, gates_test::default_rope(theta), gate.wq(), wk2);
    auto p2 = other.scores(pooled.q, pooled.k);
    auto diff = (p2 - p).abs().amax({0, 2, 3});  // per head
    for (int64_t h = 0; h < Hq; ++h) {
      CAPTURE(h);
      if (nb > 1) CHECK((diff[h].item<double>() > 1e-6) == (h < g));
      else CHECK(diff[h].item<double>() < 1e-12);  // a single block is always 1
    }
  }
}

TEST_CASE("AttnGate rope_dim head_dim rotates the first D channels at the model's frequencies",
          "[gates][attn_gate]") {
  const int64_t S = GENERATE(17, 70);
  const int64_t g = GENERATE(1, 3);
  const int64_t b = 16, D = 6, Hkv = 2, Hq = Hkv * g, d = 10, B = 2;
  CAPTURE(S, g);
  core::GateConfig cfg;
  cfg.block_size = b;
  cfg.hidden_size = d;
  cfg.seed = 99 + S;
  cfg.init_std = 0.5;
  cfg.rope_dim = "head_dim";
  const double theta = 500.0;
  auto gen = at::detail::createCPUGenerator(31 + S + g);
  auto gate = core::AttnGate::init(cfg, {Hq, Hkv, D}, gates_test::default_rope(theta), gen);
  gate.to(at::kCPU, at::kDouble);
  auto q = at::randn({B, S, Hq, D}, gen, at::kDouble);
  auto k = at::randn({B, S, Hkv, D}, gen, at::kDouble);
  auto pooled = gate.pool(q, k);
  const int64_t nb = (S + b - 1) / b;
  const std::vector<int64_t> kv_blocks(B, nb);
  auto p = gate.scores(pooled.q, pooled.k);
  auto want = scores_ref(pooled.q, pooled.k, gate.wq(), gate.wk(), b, 0, theta, kv_blocks, D);
  auto full = scores_ref(pooled.q, pooled.k, gate.wq(), gate.wk(), b, 0, theta, kv_blocks, d);
  CAPTURE((p - want).abs().max().item<double>(), (want - full).abs().max().item<double>());
  CHECK((p - want).abs().max().item<double>() < 5e-5);
  CHECK((want - full).abs().max().item<double>() > 1e-3);  // the two RoPEs really differ here

  // With D == d both settings are the same rotation.
  core::GateConfig same = cfg;
  same.hidden_size = D;
  auto wq = at::randn({Hq, D, D}, gen, at::kDouble), wk = at::randn({Hkv, 3 * D, D}, gen, at::kDouble);
  core::AttnGate head(same, {Hq, Hkv, D}, gates_test::default_rope(theta), wq, wk);
  same.rope_dim = "hidden_size";
  core::AttnGate hidden(same, {Hq, Hkv, D}, gates_test::default_rope(theta), wq, wk);
  CHECK(at::equal(head.scores(pooled.q, pooled.k), hidden.scores(pooled.q, pooled.k)));

  // D > d: the reference's flash-attn rotary refuses it, and so do we.
  core::GateConfig narrow = cfg;
  narrow.hidden_size = 4;
  const auto msg = [&] {
    try {
      core::AttnGate::init(narrow, {Hq, Hkv, D}, gates_test::default_rope(theta), gen);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("<no error>");
  }();
  CHECK(msg.find("rope_dim head_dim needs an even D <= d (got D = 6, d = 4)") != std::string::npos);
}

TEST_CASE("AttnGate identity-Q corner (reference checkpoints with d == D)", "[gates][attn_gate]") {
  const int64_t S = GENERATE(33, 64);
  const int64_t b = 16, D = 8, Hkv = 2, Hq = 4;
  CAPTURE(S);
  core::GateConfig cfg;
  cfg.block_size = b;
  cfg.hidden_size = D;
  cfg.q_pools = {PoolKind::kAvg};
  cfg.k_pools = {PoolKind::kMax, PoolKind::kMin};
  auto gen = at::detail::createCPUGenerator(5 + S);
  auto wk = at::randn({Hq, 2 * D, D}, gen, at::kDouble) * 0.5;
  core::AttnGate gate(cfg, {Hq, Hkv, D}, gates_test::default_rope(10000.0), at::Tensor(), wk);
  CHECK(gate.identity_q());
  auto q = at::randn({1, S, Hq, D}, gen, at::kDouble);
  auto k = at::randn({1, S, Hkv, D}, gen, at::kDouble);
  auto pooled = gate.pool(q, k);
  const int64_t nb = (S + b - 1) / b;
  auto p = gate.scores(pooled.q, pooled.k);
  auto want = scores_ref(pooled.q, pooled.k, at::Tensor(), wk, b, 0, 10000.0,
                         std::vector<int64_t>(1, nb));
  CHECK((p - want).abs().max().item<double>() < 5e-5);

  // A d != D or two Q poolings cannot drop the Q map.
  core::GateConfig bad = cfg;
  bad.q_pools = {PoolKind::kAvg, PoolKind::kMax};
  CHECK_THROWS(core::AttnGate(bad, {Hq, Hkv, D}, gates_test::default_rope(10000.0), at::Tensor(), wk));
}

TEST_CASE("GateSet init is seeded and shaped", "[gates][attn_gate]") {
  core::GateConfig cfg;
  cfg.block_size = 16;
  cfg.hidden_size = 8;
  cfg.seed = 42;
  auto a = core::GateSet::init(cfg, {4, 2, 8}, gates_test::default_rope(10000.0), 3, "tiny");
  auto b = core::GateSet::init(cfg, {4, 2, 8}, gates_test::default_rope(10000.0), 3, "tiny");
  cfg.seed = 43;
  auto c = core::GateSet::init(cfg, {4, 2, 8}, gates_test::default_rope(10000.0), 3, "tiny");
  REQUIRE(a.parameters().size() == 6);
  CHECK(a.layers[1].wq().sizes() == at::IntArrayRef({4, 8, 8}));
  CHECK(a.layers[1].wk().sizes() == at::IntArrayRef({2, 24, 8}));
  for (size_t i = 0; i < 6; ++i) CHECK(at::equal(a.parameters()[i], b.parameters()[i]));
  CHECK_FALSE(at::equal(a.parameters()[0], c.parameters()[0]));
  CHECK_FALSE(at::equal(a.parameters()[0], a.parameters()[2]));  // layers differ
  const double sd = a.layers[0].wk().std().item<double>();
  CHECK(std::abs(sd - cfg.init_std) < 0.3 * cfg.init_std);
}
