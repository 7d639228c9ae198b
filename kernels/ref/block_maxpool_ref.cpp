// CPU reference of attention_with_block_maxpool(): dense attention plus the ground truth G of
// DESIGN.md §1. Per query row the tile keeps the largest raw score of each key block; once the
// row's final max m and normaliser l are known, exp(rowmax - m) / l is the row's largest
// probability in that block, and G[i, j] is the max over the rows of query block i, each G row
// then renormalised to sum 1 (rows with no visible key stay 0).
#include "kernels/ref/attn_tile.h"
#include "kernels/ref/ref.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

namespace seer::kernels::ref {
namespace {

// [g, T, nbk] per-row tile maxima -> [g, ceil(T / b), nbk] per query block, rows summing to 1.
at::Tensor pool_rows(const at::Tensor& row_probs, int64_t block) {
  const int64_t g = row_probs.size(0);
  const int64_t T = row_probs.size(1);
  const int64_t nbk = row_probs.size(2);
  const int64_t nqb = ceil_div(T, block);
  // Probabilities are >= 0, so padding the partial last query block with zero rows is neutral.
  const at::Tensor padded = at::constant_pad_nd(row_probs, {0, 0, 0, nqb * block - T}, 0.0);
  at::Tensor G = std::get<0>(padded.view({g, nqb, block, nbk}).max(2));
  const at::Tensor sums = G.sum(2, /*keepdim=*/true);
  return G.div_(sums.masked_fill(sums == 0, 1.0));
}

}  // namespace

MaxpoolResult attention_with_block_maxpool(const at::Tensor& q, const at::Tensor& k,
                                           const at::Tensor& v, int64_t block,
                                           const AttnOptions& opts) {
  const int64_t Hq = q.size(2);
  const int64_t Hkv = k.size(2);
  const int64_t g = Hq / Hkv;
  const at::ScalarType acc = accumulation_dtype(opts, q.scalar_type());
  const double scale = opts.scale > 0 ? opts.scale : 1.0 / std::sqrt(double(q.size(3)));
  const std::vector<SeqSpan> spans = seq_spans(q, k, opts);
  const std::vector<TileTask> tasks = make_tile_tasks(spans, Hkv, opts.causal);
  const int64_t nbq = ceil_div(max_q_len(spans, q, opts), block);
  const int64_t nbk = ceil_div(max_k_len(spans, k, opts), block);

  MaxpoolResult res;
  res.out = at::zeros(q.sizes(), q.options());
  if (opts.return_lse) {
    res.lse = at::full({q.size(0), Hq, q.size(1)}, -std::numeric_limits<float>::infinity(),
                       q.options().dtype(at::kFloat));
  }
  res.block_maxpool = at::zeros({static_cast<int64_t>(spans.size()), Hq, nbq, nbk},
                                q.options().dtype(at::kFloat));
  run_tasks(static_cast<int64_t>(tasks.size()), [&](int64_t i) {
    const TileTask& t = tasks[i];
    TileInputs in;
    in.q = load_query_tile(q, t, g, acc, scale);
    in.k = k[t.seq.batch].narrow(0, t.seq.k_start, t.seq.k_len).select(1, t.kv_head);
    in.v = v[t.seq.batch].narrow(0, t.seq.k_start, t.seq.k_len).select(1, t.kv_head);
    in.first_pos = t.row0 + t.seq.offset();
    in.causal = opts.causal;
    in.block = block;
    in.want_block_rowmax = true;
    const TileResult r = attend_tile(in);
    store_tile(t, g, r, res.out, res.lse);
    if (r.block_rowmax.size(2) == 0) return;
    // exp(-inf - m) = 0 for blocks a row cannot see; empty rows have m = 0, l = 1, rowmax -inf.
    const at::Tensor row_probs =
        (r.block_rowmax - r.m.unsqueeze(2)).exp_().div_(r.l.unsqueeze(2));   // [g, T, nbk_seq]
    const at::Tensor G = pool_rows(row_probs, block);
    res.block_maxpool[t.seq.seq]
        .narrow(0, t.kv_head * g, g)
        .narrow(1, t.row0 / block, G.size(1))
        .narrow(2, 0, G.size(2))
        .copy_(G);
  });
  return res;
}

}  // namespace seer::kernels::ref
