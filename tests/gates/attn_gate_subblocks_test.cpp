// AttnGate with query sub-blocks (GateConfig::q_subblocks) against a float64 re-implementation
// that starts from the raw tokens: each b/s-token sub-block of a query block averages its own
// tokens, is rotated at the block's first token and scored with its own block-causal softmax; the
// block's P is the renormalised max over its non-empty sub-rows. Odd S (partial blocks and sub-blocks),
// GQA, batch > 1 with padded sequences, chunked query offsets; the capture layout and gate files.
#include "catch.h"

#include "core/config/config_reader.h"
#include "core/gate/attn_gate.h"
#include "core/gate/gate_config.h"
#include "core/gate/gate_file.h"
#include "core/gate/gate_set.h"
#include "gates_test_util.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <vector>

using namespace seer;
using kernels::PoolKind;

namespace {

std::vector<double> project(const std::vector<double>& x, const at::Tensor& w) {  // w [in, d]
  auto wa = w.accessor<double, 2>();
  std::vector<double> r(w.size(1), 0.0);
  for (int64_t o = 0; o < w.size(1); ++o)
    for (size_t i = 0; i < x.size(); ++i) r[o] += x[i] * wa[i][o];
  return r;
}


// Channels of x[bi, rows [lo, hi), h, :] pooled by `kind`.
std::vector<double> pool_rows(const at::Tensor& x, int64_t bi, int64_t lo, int64_t hi, int64_t h,
                              PoolKind kind) {
  const int64_t D = x.size(3);
  auto xa = x.accessor<double, 4>();
  std::vector<double> out(D);
  for (int64_t c = 0; c < D; ++c) {
    double acc = kind == PoolKind::kAvg ? 0 : (kind == PoolKind::kMax ? -1e300 : 1e300);
    for (int64_t r = lo; r < hi; ++r) {
      const double v = xa[bi][r][h][c];
      acc = kind == PoolKind::kAvg ? acc + v : kind == PoolKind::kMax ? std::max(acc, v)
                                                                      : std::min(acc, v);
    }
    out[c] = kind == PoolKind::kAvg ? acc / double(hi - lo) : acc;
  }
  return out;
}

// P [B, Hq, nb, nb] of a Qavg_Kmaxminavg gate with s sub-blocks; rows of blocks past a sequence's
// length stay 0 (never compared).
at::Tensor subblock_scores_ref(const at::Tensor& q, const at::Tensor& k, const at::Tensor& wq,
                               const at::Tensor& wk, int64_t b, int64_t s, double theta,
                               const std::vector<int64_t>& lens) {
  const int64_t B = q.size(0), S = q.size(1), Hq = q.size(2), Hkv = k.size(2);
  const int64_t g = Hq / Hkv, nb = (S + b - 1) / b, sub = b / s, d = wk.size(2);
  auto out = at::zeros({B, Hq, nb, nb}, at::kDouble);
  for (int64_t bi = 0; bi < B; ++bi) {
    const int64_t len = lens[bi], valid_blocks = (len + b - 1) / b;
    for (int64_t h = 0; h < Hq; ++h) {
      std::vector<std::vector<double>> keys;  // rotated gate keys of the valid key blocks
      for (int64_t j = 0; j < valid_blocks; ++j) {
        const int64_t lo = j * b, hi = std::min(len, lo + b);
        std::vector<double> kin;
        for (PoolKind kind : {PoolKind::kMax, PoolKind::kMin, PoolKind::kAvg}) {
          auto part = pool_rows(k, bi, lo, hi, h / g, kind);
          kin.insert(kin.end(), part.begin(), part.end());
        }
        keys.push_back(gates_test::rope_ref(project(kin, wk[h / g]), double(lo), theta));
      }
      for (int64_t i = 0; i < valid_blocks; ++i) {
        std::vector<double> best(i + 1, 0.0);
        for (int64_t r = 0; r < s; ++r) {
          const int64_t lo = i * b + r * sub, hi = std::min(len, lo + sub);
          if (lo >= hi) continue;  // a sub-block past the sequence's end
          const auto pooled_q = pool_rows(q, bi, lo, hi, h, PoolKind::kAvg);
          auto qr = gates_test::rope_ref(project(pooled_q, wq[h]), double(i * b), theta);
          std::vector<double> logit(i + 1);
          double mx = -std::numeric_limits<double>::infinity();
          for (int64_t j = 0; j <= i; ++j) {
            double dot = 0;
            for (int64_t c = 0; c < d; ++c) dot += qr[c] * keys[j][c];
            logit[j] = dot / std::sqrt(double(d));
            mx = std::max(mx, logit[j]);
          }
          double z = 0;
          for (int64_t j = 0; j <= i; ++j) z += std::exp(logit[j] - mx);
          for (int64_t j = 0; j <= i; ++j) best[j] = std::max(best[j], std::exp(logit[j] - mx) / z);
        }
        double total = 0;
        for (double v : best) total += v;
        for (int64_t j = 0; j <= i; ++j) out[bi][h][i][j] = best[j] / total;
      }
    }
  }
  return out;
}


core::GateConfig subblock_config(int64_t b, int64_t s, int64_t d, int64_t seed) {
  core::GateConfig cfg;
  cfg.block_size = b;
  cfg.hidden_size = d;
  cfg.q_pools = {PoolKind::kAvg};
  cfg.k_pools = {PoolKind::kMax, PoolKind::kMin, PoolKind::kAvg};
  cfg.q_subblocks = s;
  cfg.seed = seed;
  cfg.init_std = 0.5;  // scores far from uniform, so a wrong sub-row or position shows
  return cfg;
}

}  // namespace

TEST_CASE("AttnGate with query sub-blocks matches a float64 re-implementation",
          "[gates][attn_gate]") {
  const int64_t S = GENERATE(5, 31, 33, 70, 150);
  const int64_t s = GENERATE(2, 4);   // 16-token sub-blocks of 32- and 64-token blocks
  const int64_t g = GENERATE(1, 3);
  const int64_t b = 16 * s, D = 8, Hkv = 2, Hq = Hkv * g, d = 6, B = 3;
  CAPTURE(S, s, g);
  const auto cfg = subblock_config(b, s, d, 500 + S);
  const double theta = 500.0;  // fast phases: a wrong position shows
  auto gen = at::detail::createCPUGenerator(91 + S * 7 + s + g);
  auto gate = core::AttnGate::init(cfg, {Hq, Hkv, D}, gates_test::default_rope(theta), gen);
  gate.to(at::kCPU, at::kDouble);
  auto q = at::randn({B, S, Hq, D}, gen, at::kDouble);
  auto k = at::randn({B, S, Hkv, D}, gen, at::kDouble);
  const int64_t nb = (S + b - 1) / b;

  // Entry 0 full, entries 1 and 2 padded (one ends mid-sub-block, one on a sub-block edge).
  std::vector<int64_t> lens = {S, std::max<int64_t>(1, S - 5), std::max<int64_t>(1, S / 4 * 2)};
  auto lens_t = at::tensor(lens, at::kLong);
  std::vector<int64_t> kv(B);
  for (int64_t i = 0; i < B; ++i) kv[i] = (lens[i] + b - 1) / b;
  auto pooled = gate.pool(q, k, lens_t);
  REQUIRE(pooled.q.sizes() == at::IntArrayRef({B, nb * s, Hq, D}));
  REQUIRE(pooled.k.sizes() == at::IntArrayRef({B, nb, Hkv, 3 * D}));
  auto p = gate.scores(pooled.q, pooled.k, 0, at::tensor(kv, at::kLong));
  auto want = subblock_scores_ref(q, k, gate.wq(), gate.wk(), b, s, theta, lens);
  for (int64_t bi = 0; bi < B; ++bi) {
    CAPTURE(bi, lens[bi]);
    auto have_rows = p[bi].narrow(1, 0, kv[bi]);
    auto want_rows = want[bi].narrow(1, 0, kv[bi]);
    const double err = (have_rows - want_rows).abs().max().item<double>();
    CAPTURE(err);
    CHECK(err < 5e-5);  // RoPE phases are float32 as in HF; the rest float64
    CHECK(at::allclose(have_rows.sum(-1), at::ones({Hq, kv[bi]}, at::kDouble), 1e-12, 1e-12));
  }
  CHECK(p.triu(1).abs().max().item<double>() == 0.0);

  SECTION("chunked queries: later query blocks against the whole key cache") {
    if (nb < 2) return;
    const int64_t off = nb / 2;
    auto whole = gate.pool(q, k);   // unpadded: every entry S tokens
    auto full = gate.scores(whole.q, whole.k);
    auto q_chunk = whole.q.narrow(1, off * s, (nb - off) * s);
    auto pc = gate.scores(q_chunk, whole.k, off);
    CHECK((pc - full.narrow(2, off, nb - off)).abs().max().item<double>() < 1e-12);
    // The pooling of a chunk that starts on a block edge is the same rows.
    auto chunk_pool = gate.pool(q.narrow(1, off * b, S - off * b), k);
    CHECK(at::equal(chunk_pool.q, q_chunk));
  }
  SECTION("log_scores and scores agree; a bfloat16 forward stays close") {
    auto lp = gate.log_scores(pooled.q, pooled.k);
    auto sp = gate.scores(pooled.q, pooled.k);
    CHECK((lp.exp() - sp).abs().max().item<double>() < 1e-12);
    auto g32 = gate;
    g32.to(at::kCPU, at::kFloat);
    auto lb = at::log_softmax(
        g32.logits_in(at::kBFloat16, pooled.q.to(at::kFloat), pooled.k.to(at::kFloat))
            .to(at::kFloat), -1);
    CHECK((lb.exp().to(at::kDouble) - sp).abs().max().item<double>() < 0.05);
  }
}

TEST_CASE("pool_query_subblocks: sub-block rows, the last real one repeated past the end",
          "[gates][attn_gate]") {
  auto gen = at::detail::createCPUGenerator(5);
  const int64_t b = 64, s = 4, S = 101, H = 2, D = 3;
  auto x = at::randn({2, S, H, D}, gen, at::kDouble);
  auto lens = at::tensor(std::vector<int64_t>{101, 37}, at::kLong);
  auto out = core::pool_query_subblocks(x, b, s, {PoolKind::kAvg, PoolKind::kMax}, lens);
  REQUIRE(out.sizes() == at::IntArrayRef({2, 8, H, 2 * D}));
  auto rows = [&](int64_t bi, int64_t lo, int64_t hi) {
    auto t = x[bi].narrow(0, lo, hi - lo);
    return at::cat({t.mean(0), std::get<0>(t.max(0))}, -1);
  };
  // Entry 0: sub-blocks [0,16) [16,32) ... [96,101), then row 7 repeats row 6.
  for (int64_t r = 0; r < 7; ++r)
    CHECK(at::allclose(out[0][r], rows(0, r * 16, std::min<int64_t>(S, r * 16 + 16)), 1e-12,
                       1e-12));
  CHECK(at::equal(out[0][7], out[0][6]));
  // Entry 1 (37 tokens): rows 0-2 real ([32,37) partial), rows 3-7 repeat row 2.
  CHECK(at::allclose(out[1][2], rows(1, 32, 37), 1e-12, 1e-12));
  for (int64_t r = 3; r < 8; ++r) CHECK(at::equal(out[1][r], out[1][2]));
  // One sub-block is kernels::pool_blocks.
  CHECK(at::equal(core::pool_query_subblocks(x, b, 1, {PoolKind::kAvg}, lens),
                  kernels::pool_blocks(x, b, {PoolKind::kAvg}, lens)));
}

TEST_CASE("q_subblocks: config check, gate file round trip, no reference layout",
          "[gates][gate_file]") {
  const config::ConfigTree bad(YAML::Load("gate: {block_size: 64, q_subblocks: 8}"));
  CHECK_THROWS_WITH(core::parse_gate_config(config::ConfigReader(bad, "gate")),
                    seer::test::Contains("q_subblocks") &&
                        seer::test::Contains("8"));

  auto gen = at::detail::createCPUGenerator(8);
  core::GateSet set;
  set.config = subblock_config(64, 4, 8, 3);
  set.shape = {4, 2, 8};
  set.rope = gates_test::default_rope(10000.0);
  set.base_model = "toy";
  for (int l = 0; l < 2; ++l)
    set.layers.push_back(core::AttnGate::init(set.config, set.shape, set.rope, gen));
  const auto dir = std::filesystem::temp_directory_path() / "seer_subblock_gates";
  std::filesystem::remove_all(dir);
  core::save_gates(set, dir / "ours");
  const auto back = core::load_gates(dir / "ours");
  CHECK(back.config.q_subblocks == 4);
  CHECK(at::equal(back.layers[1].wq(), set.layers[1].wq()));
  CHECK_THROWS_WITH(core::export_reference_gates(set, dir / "ref"),
                    seer::test::Contains("q_subblocks = 4"));
  std::filesystem::remove_all(dir);
}
