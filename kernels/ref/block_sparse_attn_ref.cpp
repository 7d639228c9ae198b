// CPU reference of block_sparse_attention(). One task per (sequence, query head, query block):
// gather the keys of the kept blocks (those with a causally visible key), one softmax over them.
// The work is proportional to the kept blocks, so the model's sparse CPU runs get faster with
// sparsity (a dense-tile version with masks cost more than dense attention at keep 0.1, 8k).
#include "kernels/ref/attn_tile.h"
#include "kernels/ref/ref.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace seer::kernels::ref {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

struct BlockTask {
  SeqSpan seq;
  int64_t head = 0;
  int64_t qblock = 0;
  int64_t kept = 0;   // cost estimate
};

// The kept key blocks of one (sequence, head, query block), checked: counts in [0, nbk],
// indices in [0, nbk) and strictly ascending (a duplicate would be counted twice by the CUDA
// kernels).
std::vector<int64_t> kept_blocks(const at::Tensor& counts, const at::Tensor& indices,
                                 const BlockTask& t) {
  const int64_t nbk = indices.size(3);
  const auto counts_a = counts.accessor<int32_t, 3>();
  const auto idx_a = indices.accessor<int32_t, 4>();
  const int64_t n = counts_a[t.seq.seq][t.head][t.qblock];
  TORCH_CHECK_VALUE(n >= 0 && n <= nbk,
                    fmt::format("blocks.counts[{}, {}, {}] = {} outside [0, nbk = {}]", t.seq.seq,
                                t.head, t.qblock, n, nbk));
  std::vector<int64_t> kept;
  int64_t prev = -1;
  for (int64_t c = 0; c < n; ++c) {
    const int64_t j = idx_a[t.seq.seq][t.head][t.qblock][c];
    TORCH_CHECK_VALUE(j > prev && j < nbk,
                      fmt::format("blocks.indices[{}, {}, {}, {}] = {}: expected ascending block "
                                  "indices in [0, nbk = {}) (previous {})",
                                  t.seq.seq, t.head, t.qblock, c, j, nbk, prev));
    kept.push_back(j);
    prev = j;
  }
  return kept;
}

}  // namespace

AttnResult block_sparse_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                  const BlockIndex& blocks, const AttnOptions& opts) {
  const int64_t Hq = q.size(2);
  const int64_t g = Hq / k.size(2);
  const int64_t b = blocks.block;
  const at::ScalarType acc = accumulation_dtype(opts, q.scalar_type());
  const double scale = opts.scale > 0 ? opts.scale : 1.0 / std::sqrt(double(q.size(3)));
  const std::vector<SeqSpan> spans = seq_spans(q, k, opts);
  const at::Tensor counts = blocks.counts.to(at::kCPU).contiguous();
  const at::Tensor indices = blocks.indices.to(at::kCPU).contiguous();

  std::vector<BlockTask> tasks;
  const auto counts_a = counts.accessor<int32_t, 3>();
  for (const SeqSpan& s : spans) {
    for (int64_t h = 0; h < Hq; ++h) {
      for (int64_t i = 0; i * b < s.q_len; ++i) tasks.push_back({s, h, i, counts_a[s.seq][h][i]});
    }
  }
  std::stable_sort(tasks.begin(), tasks.end(),
                   [](const BlockTask& x, const BlockTask& y) { return x.kept > y.kept; });

  AttnResult res;
  res.out = at::zeros(q.sizes(), q.options());   // rows with no visible key stay 0
  if (opts.return_lse) {
    res.lse = at::full({q.size(0), Hq, q.size(1)}, -std::numeric_limits<float>::infinity(),
                       q.options().dtype(at::kFloat));
  }
  run_tasks(static_cast<int64_t>(tasks.size()), [&](int64_t ti) {
    const BlockTask& t = tasks[ti];
    const SeqSpan& s = t.seq;
    const int64_t row0 = t.qblock * b;
    const int64_t rows = std::min(b, s.q_len - row0);
    const int64_t first_pos = row0 + s.offset();           // absolute key position of row 0
    const int64_t last_pos = first_pos + rows - 1;
    // Positions of the keys of kept blocks that hold a visible key.
    std::vector<int64_t> pos;
    for (const int64_t j : kept_blocks(counts, indices, t)) {
      const int64_t end = std::min((j + 1) * b, opts.causal ? std::min(s.k_len, last_pos + 1) : s.k_len);
      for (int64_t c = j * b; c < end; ++c) pos.push_back(c);
    }
    if (pos.empty()) return;
    const at::Tensor key_pos = at::tensor(pos, at::kLong);                           // [m]
    const at::Tensor K = k[s.batch].narrow(0, s.k_start, s.k_len).select(1, t.head / g);
    const at::Tensor V = v[s.batch].narrow(0, s.k_start, s.k_len).select(1, t.head / g);
    const at::Tensor Q = q[s.batch].narrow(0, s.q_start + row0, rows).select(1, t.head);
    at::Tensor scores = at::matmul(Q.to(acc).mul(scale), K.index_select(0, key_pos).to(acc).t());
    if (opts.causal) {
      const at::Tensor row_pos = at::arange(first_pos, last_pos + 1, at::kLong);
      scores.masked_fill_(key_pos.unsqueeze(0) > row_pos.unsqueeze(1), kNegInf);   // [rows, m]
    }
    const at::Tensor m = std::get<0>(scores.max(1));
    const at::Tensor m_safe = m.masked_fill(m == kNegInf, 0.0);   // rows with no visible key
    const at::Tensor p = scores.sub_(m_safe.unsqueeze(1)).exp_();
    const at::Tensor l = p.sum(1);
    const at::Tensor out = at::matmul(p, V.index_select(0, key_pos).to(acc))
                               .div_(l.masked_fill(l == 0, 1.0).unsqueeze(1));
    res.out[s.batch].narrow(0, s.q_start + row0, rows).select(1, t.head).copy_(out);
    if (res.lse.defined()) {
      res.lse[s.batch][t.head].narrow(0, s.q_start + row0, rows).copy_(m + l.log());
    }
  });
  return res;
}

}  // namespace seer::kernels::ref
