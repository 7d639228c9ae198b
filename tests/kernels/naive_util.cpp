// Naive float64 references and comparison helpers for the kernel tests (see naive_util.h).
#include "naive_util.h"

#include "catch.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <limits>

namespace seer::kernels::test {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct Seq {
  int64_t batch, q0, ql, k0, kl;
};

std::vector<int64_t> to_vec(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

std::vector<Seq> sequences(const at::Tensor& q, const at::Tensor& k, const AttnOptions& opts) {
  std::vector<Seq> seqs;
  if (opts.cu_seqlens_q.has_value()) {
    const auto cq = to_vec(*opts.cu_seqlens_q);
    const auto ck = to_vec(*opts.cu_seqlens_k);
    for (size_t s = 0; s + 1 < cq.size(); ++s) {
      seqs.push_back({0, cq[s], cq[s + 1] - cq[s], ck[s], ck[s + 1] - ck[s]});
    }
  } else if (opts.seq_lens.has_value()) {
    const auto lens = to_vec(*opts.seq_lens);
    for (size_t b = 0; b < lens.size(); ++b) seqs.push_back({int64_t(b), 0, lens[b], 0, lens[b]});
  } else {
    for (int64_t b = 0; b < q.size(0); ++b) seqs.push_back({b, 0, q.size(1), 0, k.size(1)});
  }
  return seqs;
}

// block > 0 with want_g: also G; keep defined: block-sparse with that block size.
NaiveResult naive(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                  const AttnOptions& opts, int64_t block, bool want_g, const at::Tensor& keep) {
  const auto seqs = sequences(q, k, opts);
  const int64_t Hq = q.size(2);
  const int64_t g = Hq / k.size(2);
  const int64_t D = q.size(3);
  const double scale = opts.scale > 0 ? opts.scale : 1.0 / std::sqrt(double(D));
  const at::Tensor q64 = q.to(at::kDouble);
  const at::Tensor k64 = k.to(at::kDouble);
  const at::Tensor v64 = v.to(at::kDouble);

  NaiveResult r;
  r.out = at::zeros(q.sizes(), q64.options());
  r.lse = at::full({q.size(0), Hq, q.size(1)}, -kInf, q64.options());
  int64_t max_ql = opts.cu_seqlens_q ? 0 : q.size(1);
  int64_t max_kl = opts.cu_seqlens_q ? 0 : k.size(1);
  for (const Seq& s : seqs) {
    max_ql = std::max(max_ql, s.ql);
    max_kl = std::max(max_kl, s.kl);
  }
  if (want_g) {
    r.G = at::zeros({int64_t(seqs.size()), Hq, (max_ql + block - 1) / block,
                     (max_kl + block - 1) / block},
                    q64.options());
  }
  for (size_t si = 0; si < seqs.size(); ++si) {
    const Seq& s = seqs[si];
    if (s.ql == 0) continue;
    // visible[r][c]: causal bottom-right, then the kept blocks.
    at::Tensor visible = at::ones({s.ql, s.kl}, at::kBool);
    auto vis = visible.accessor<bool, 2>();
    for (int64_t row = 0; row < s.ql; ++row) {
      for (int64_t c = 0; c < s.kl; ++c) {
        if (opts.causal && c > row + s.kl - s.ql) vis[row][c] = false;
      }
    }
    for (int64_t h = 0; h < Hq; ++h) {
      at::Tensor vis_h = visible.clone();
      if (keep.defined()) {
        auto vh = vis_h.accessor<bool, 2>();
        const at::Tensor keep_h = keep[int64_t(si)][h].contiguous();
        auto kh = keep_h.accessor<bool, 2>();
        for (int64_t row = 0; row < s.ql; ++row) {
          for (int64_t c = 0; c < s.kl; ++c) {
            if (!kh[row / block][c / block]) vh[row][c] = false;
          }
        }
      }
      const at::Tensor Q = q64[s.batch].narrow(0, s.q0, s.ql).select(1, h);       // [ql, D]
      const at::Tensor K = k64[s.batch].narrow(0, s.k0, s.kl).select(1, h / g);   // [kl, D]
      const at::Tensor V = v64[s.batch].narrow(0, s.k0, s.kl).select(1, h / g);
      const at::Tensor scores = at::mm(Q, K.t()).mul(scale).masked_fill(vis_h.logical_not(), -kInf);
      const at::Tensor lse = at::logsumexp(scores, 1);                           // -inf if empty
      const at::Tensor empty = lse == -kInf;
      const at::Tensor P = (scores - lse.masked_fill(empty, 0.0).unsqueeze(1)).exp();
      r.out[s.batch].narrow(0, s.q0, s.ql).select(1, h).copy_(at::mm(P, V));
      r.lse[s.batch][h].narrow(0, s.q0, s.ql).copy_(lse);
      if (want_g) {
        at::Tensor Gh = r.G[int64_t(si)][h];
        for (int64_t i = 0; i * block < s.ql; ++i) {
          for (int64_t j = 0; j * block < s.kl; ++j) {
            const at::Tensor tile = P.narrow(0, i * block, std::min(block, s.ql - i * block))
                                        .narrow(1, j * block, std::min(block, s.kl - j * block));
            Gh[i][j] = tile.max().item<double>();
          }
          const double sum = Gh[i].sum().item<double>();
          if (sum > 0) Gh[i].div_(sum);
        }
      }
    }
  }
  return r;
}

}  // namespace

NaiveResult naive_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const AttnOptions& opts) {
  return naive(q, k, v, opts, 0, false, at::Tensor());
}

NaiveResult naive_attention_maxpool(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                    const AttnOptions& opts, int64_t block) {
  return naive(q, k, v, opts, block, true, at::Tensor());
}

NaiveResult naive_sparse_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                   const AttnOptions& opts, int64_t block, const at::Tensor& keep) {
  return naive(q, k, v, opts, block, false, keep);
}

at::Tensor naive_pool_blocks(const at::Tensor& x, int64_t block,
                             const std::vector<PoolKind>& kinds,
                             const std::vector<int64_t>& lens) {
  const int64_t B = x.size(0), S = x.size(1), H = x.size(2), D = x.size(3);
  const int64_t nb = (S + block - 1) / block;
  const int64_t K = int64_t(kinds.size());
  const at::Tensor x64 = x.to(at::kDouble).contiguous();
  auto xa = x64.accessor<double, 4>();
  at::Tensor out = at::zeros({B, nb, H, D * K}, at::kDouble);
  auto oa = out.accessor<double, 4>();
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t j = 0; j < nb; ++j) {
      const int64_t r0 = j * block;
      const int64_t r1 = std::min(r0 + block, lens[b]);
      if (r1 <= r0) continue;
      for (int64_t h = 0; h < H; ++h) {
        for (int64_t d = 0; d < D; ++d) {
          double sum = 0, mx = -kInf, mn = kInf;
          for (int64_t r = r0; r < r1; ++r) {
            sum += xa[b][r][h][d];
            mx = std::max(mx, xa[b][r][h][d]);
            mn = std::min(mn, xa[b][r][h][d]);
          }
          for (int64_t c = 0; c < K; ++c) {
            const double val = kinds[c] == PoolKind::kAvg   ? sum / double(r1 - r0)
                               : kinds[c] == PoolKind::kMax ? mx
                                                            : mn;
            oa[b][j][h][c * D + d] = val;
          }
        }
      }
    }
  }
  return out;
}

void init_test_process() {
  static const bool seeded = [] {
#ifdef SEER_CATCH_V3
    const uint64_t seed = Catch::getSeed();
#else
    const uint64_t seed = Catch::rngSeed();
#endif
    at::manual_seed(seed);
    at::set_num_threads(1);
    return true;
  }();
  (void)seeded;
}

Qkv random_qkv(int64_t B, int64_t Sq, int64_t Sk, int64_t Hq, int64_t Hkv, int64_t D,
               at::ScalarType dtype, double q_scale) {
  init_test_process();
  Qkv r;
  r.q = (at::randn({B, Sq, Hq, D}, at::kDouble) * q_scale).to(dtype);
  r.k = at::randn({B, Sk, Hkv, D}, at::kDouble).to(dtype);
  r.v = at::randn({B, Sk, Hkv, D}, at::kDouble).to(dtype);
  return r;
}

double unit_roundoff(at::ScalarType dtype) {
  switch (dtype) {
    case at::kDouble: return std::ldexp(1.0, -53);
    case at::kFloat: return std::ldexp(1.0, -24);
    case at::kHalf: return std::ldexp(1.0, -11);
    case at::kBFloat16: return std::ldexp(1.0, -8);
    default: return 0.0;
  }
}

double rounding_error(const at::Tensor& reference, at::ScalarType dtype) {
  const at::Tensor ref = reference.to(at::kDouble);
  const at::Tensor finite = ref.isfinite();
  const at::Tensor err = (ref.to(dtype).to(at::kDouble) - ref).abs().masked_fill(finite.logical_not(), 0.0);
  return err.numel() ? err.max().item<double>() : 0.0;
}

void require_close(const at::Tensor& actual, const at::Tensor& expected, double atol,
                   double rtol, const std::string& what) {
  INFO(what);
  REQUIRE(actual.defined());
  REQUIRE(actual.sizes() == expected.sizes());
  const at::Tensor a = actual.to(at::kDouble).contiguous();
  const at::Tensor e = expected.to(at::kDouble).contiguous();
  REQUIRE(a.isnan().sum().item<int64_t>() == 0);
  // Infinities (lse of empty rows) must sit at the same places with the same sign.
  const at::Tensor a_inf = a.isinf();
  const at::Tensor e_inf = e.isinf();
  const at::Tensor inf_mismatch =
      (a_inf != e_inf).logical_or(a_inf.logical_and(e_inf).logical_and(a != e));
  if (inf_mismatch.any().item<bool>()) {
    const int64_t idx = inf_mismatch.flatten().nonzero()[0].item<int64_t>();
    INFO(fmt::format("flat index {}: actual {} expected {}", idx, a.flatten()[idx].item<double>(),
                     e.flatten()[idx].item<double>()));
    FAIL("infinite values differ");
  }
  if (a.numel() == 0) return;
  const at::Tensor err = (a - e).abs().masked_fill(e_inf, 0.0);
  const at::Tensor excess = err - (atol + rtol * e.abs().masked_fill(e_inf, 0.0));
  const int64_t worst = excess.flatten().argmax().item<int64_t>();
  const double max_err = err.max().item<double>();
  std::vector<int64_t> index(a.dim());
  for (int64_t d = a.dim() - 1, rem = worst; d >= 0; --d) {
    index[d] = rem % a.size(d);
    rem /= a.size(d);
  }
  INFO(fmt::format("worst index [{}]: actual {:.10g} expected {:.10g}; max abs error {:.3g} "
                   "(atol {:.3g}, rtol {:.3g})",
                   fmt::join(index, ", "), a.flatten()[worst].item<double>(),
                   e.flatten()[worst].item<double>(), max_err, atol, rtol));
  REQUIRE(excess.flatten()[worst].item<double>() <= 0.0);
}

}  // namespace seer::kernels::test
