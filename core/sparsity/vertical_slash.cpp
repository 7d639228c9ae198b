// VerticalSlashPolicy (MInference, arXiv 2407.02490): the attention of the last query block to all
// keys is computed densely (b x Sk, small next to the S x S map), summed per key column (vertical
// lines: keys every query looks at) and per diagonal offset (slash lines: keys at a fixed distance
// behind the query), and the top columns and diagonals become the blocks they cross.
#include "core/sparsity/sparsity_policy.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

namespace seer::core {
namespace {

int64_t count_of(int64_t size, double ratio, int64_t n) {
  const int64_t c = size > 0 ? size : static_cast<int64_t>(std::llround(ratio * n));
  return std::max<int64_t>(1, std::min(c, n));
}

}  // namespace

at::Tensor VerticalSlashPolicy::select(const SparsityInputs& in) const {
  const auto& geo = in.geo;
  TORCH_CHECK(in.q.defined() && in.k.defined(), "vertical_slash policy: needs the post-RoPE q and k",
              " for layer ", in.layer);
  const int64_t B = geo.batch, Hq = geo.heads, b = geo.block, nbq = geo.nbq(), nbk = geo.nbk();
  const int64_t Hkv = in.k.size(2), D = in.q.size(3), g = Hq / Hkv;
  const int64_t Sq = geo.sq, Sk = geo.sk, shift = Sk - Sq;  // query row r is at r + shift
  const double scale = in.scale > 0 ? in.scale : 1.0 / std::sqrt(static_cast<double>(D));
  const auto long_opts = at::TensorOptions().dtype(at::kLong).device(geo.device);
  auto seq_lens_cpu = geo.seq_lens ? geo.seq_lens->to(at::kCPU, at::kLong) : at::Tensor();

  auto out = at::zeros({B, Hq, nbq, nbk}, at::TensorOptions().dtype(at::kBool).device(geo.device));
  auto kv_head_of = at::div(at::arange(Hq, long_opts), g, "floor");
  for (int64_t bi = 0; bi < B; ++bi) {
    const int64_t Lk = geo.seq_lens ? seq_lens_cpu[bi].item<int64_t>() : Sk;
    const int64_t Lq_end = Lk - shift;  // chunk-local end of this sequence's queries
    if (Lk <= 0 || Lq_end <= 0) continue;
    const int64_t last_start_abs = ((Lk - 1) / b) * b;
    const int64_t start = std::max<int64_t>(0, last_start_abs - shift);
    const int64_t n = Lq_end - start;

    auto q_last = in.q[bi].narrow(0, start, n).to(at::kFloat).permute({1, 0, 2});  // [Hq, n, D]
    auto k_all = in.k[bi].narrow(0, 0, Lk).to(at::kFloat).permute({1, 0, 2});      // [Hkv, Lk, D]
    k_all = k_all.index_select(0, kv_head_of);                                      // [Hq, Lk, D]
    auto s = at::matmul(q_last, k_all.transpose(1, 2)) * scale;                     // [Hq, n, Lk]
    auto pos = at::arange(n, long_opts) + (start + shift);                          // absolute rows
    auto cols = at::arange(Lk, long_opts);
    auto offsets = pos.unsqueeze(1) - cols.unsqueeze(0);                            // [n, Lk]
    s = s.masked_fill((offsets < 0).unsqueeze(0), -std::numeric_limits<float>::infinity());
    auto a = at::softmax(s, -1);                                                    // [Hq, n, Lk]

    auto vertical = a.sum(1);                                                       // [Hq, Lk]
    auto slash = at::zeros({Hq, Lk}, a.options());
    auto idx = offsets.clamp_min(0).reshape({1, n * Lk}).expand({Hq, n * Lk}).contiguous();
    slash.scatter_add_(1, idx, a.reshape({Hq, n * Lk}));                            // [Hq, Lk]

    const int64_t nv = count_of(vs_.vertical_size, vs_.vertical_ratio, Lk);
    const int64_t ns = count_of(vs_.slash_size, vs_.slash_ratio, Lk);
    auto top_cols = std::get<1>(at::topk(vertical, nv, -1));                        // [Hq, nv]
    auto top_offs = std::get<1>(at::topk(slash, ns, -1));                           // [Hq, ns]

    // Vertical lines: every row may read the column's block (causality is applied later).
    auto col_blocks = at::zeros({Hq, nbk}, out.options());
    col_blocks.scatter_(1, at::div(top_cols, b, "floor"),
                        at::ones({Hq, nv}, out.options()));
    // Slash lines: query block r holds rows r*b .. r*b+b-1, so offset o crosses key blocks
    // floor((r*b - o) / b) and floor((r*b + b - 1 - o) / b); negative blocks go to a spare column.
    auto rows = (at::arange(nbq, long_opts) + geo.q_block_offset()).view({1, nbq, 1});
    auto o = top_offs.unsqueeze(1);                                                  // [Hq, 1, ns]
    auto lo = at::div(rows * b - o, b, "floor");
    auto hi = at::div(rows * b + (b - 1) - o, b, "floor");
    auto spare = at::full_like(lo, nbk);
    auto slash_blocks = at::zeros({Hq, nbq, nbk + 1}, out.options());
    auto ones = at::ones({Hq, nbq, ns}, out.options());
    slash_blocks.scatter_(2, at::where(lo < 0, spare, lo), ones);
    slash_blocks.scatter_(2, at::where(hi < 0, spare, hi), ones);
    out[bi] = slash_blocks.narrow(2, 0, nbk).logical_or(col_blocks.unsqueeze(1));
  }
  return out;
}

}  // namespace seer::core
