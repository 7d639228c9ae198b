// One query tile against its visible keys, online softmax over key chunks (see attn_tile.h).
#include "kernels/ref/attn_tile.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <atomic>
#include <limits>

namespace seer::kernels::ref {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// Masks scores [g, T, n] of key chunk [c0, c0 + n) causally (key position > row position).
void mask_chunk(const TileInputs& in, int64_t T, int64_t c0, int64_t n, at::Tensor& s) {
  const auto opts_long = at::TensorOptions().dtype(at::kLong);
  if (in.causal && c0 + n - 1 > in.first_pos) {   // some key lies past the first row's diagonal
    const at::Tensor cols = at::arange(c0, c0 + n, opts_long);
    const at::Tensor rows = at::arange(in.first_pos, in.first_pos + T, opts_long);
    s.masked_fill_(cols.unsqueeze(0) > rows.unsqueeze(1), kNegInf);   // [T, n] over g
  }
}

}  // namespace

std::vector<TileTask> make_tile_tasks(const std::vector<SeqSpan>& spans, int64_t Hkv,
                                      bool causal) {
  std::vector<TileTask> tasks;
  for (const SeqSpan& s : spans) {
    for (int64_t h = 0; h < Hkv; ++h) {
      for (int64_t r0 = 0; r0 < s.q_len; r0 += kTileRows) {
        tasks.push_back({s, h, r0, std::min(kTileRows, s.q_len - r0)});
      }
    }
  }
  const auto cost = [causal](const TileTask& t) {
    const int64_t keys = causal ? std::min(t.seq.k_len, t.seq.offset() + t.row0 + t.rows)
                                : t.seq.k_len;
    return t.rows * std::max<int64_t>(keys, 0);
  };
  std::stable_sort(tasks.begin(), tasks.end(),
                   [&](const TileTask& a, const TileTask& b) { return cost(a) > cost(b); });
  return tasks;
}

void run_tasks(int64_t n, const std::function<void(int64_t)>& fn) {
#ifdef _OPENMP
  // One task per worker pull, most expensive first; inside at::parallel_for ATen ops and BLAS
  // run single-threaded, so the workers do not oversubscribe the cores.
  const int64_t workers = std::min<int64_t>(at::get_num_threads(), n);
  std::atomic<int64_t> next{0};
  // OpenMP threads do not inherit the caller's thread-local modes: a caller in inference mode
  // hands over inference tensors, which only inference mode may write into.
  const bool inference = c10::InferenceMode::is_enabled();
  at::parallel_for(0, workers, 1, [&](int64_t, int64_t) {
    const c10::InferenceMode inference_mode(inference);
    const c10::AutoGradMode no_grad(false);   // the reference is never differentiated
    for (int64_t i = next++; i < n; i = next++) fn(i);
  });
#else
  // Without OpenMP in this translation unit at::parallel_for would run serially with ATen's
  // intra-op parallelism switched off; a plain loop keeps it on, so the tile matmuls and
  // elementwise ops of long sequences still use every core.
  const c10::AutoGradMode no_grad(false);   // the reference is never differentiated
  for (int64_t i = 0; i < n; ++i) fn(i);
#endif
}

TileResult attend_tile(const TileInputs& in) {
  const int64_t g = in.q.size(0);
  const int64_t T = in.q.size(1);
  const int64_t D = in.q.size(2);
  const int64_t k_len = in.k.size(0);
  const at::ScalarType acc = in.q.scalar_type();
  const auto topts = in.q.options();
  // Keys visible to some row of the tile: all of them, or up to the last row's diagonal.
  const int64_t k_end = in.causal ? std::clamp<int64_t>(in.first_pos + T, 0, k_len) : k_len;

  at::Tensor m = at::full({g, T}, kNegInf, topts);
  at::Tensor l = at::zeros({g, T}, topts);
  at::Tensor o = at::zeros({g, T, D}, topts);
  TileResult r;
  if (in.want_block_rowmax) {
    r.block_rowmax = at::full({g, T, ceil_div(k_len, in.block)}, kNegInf, topts);
  }
  for (int64_t c0 = 0; c0 < k_end; c0 += kKeyChunk) {
    const int64_t n = std::min(kKeyChunk, k_end - c0);
    const at::Tensor kc = in.k.narrow(0, c0, n).to(acc);   // [n, D]
    const at::Tensor vc = in.v.narrow(0, c0, n).to(acc);
    at::Tensor s = at::matmul(in.q, kc.t());                // [g, T, n]
    mask_chunk(in, T, c0, n, s);
    if (in.want_block_rowmax) {
      const int64_t nblk = ceil_div(n, in.block);
      const at::Tensor padded = at::constant_pad_nd(s, {0, nblk * in.block - n}, kNegInf);
      r.block_rowmax.narrow(2, c0 / in.block, nblk)
          .copy_(std::get<0>(padded.view({g, T, nblk, in.block}).max(3)));
    }
    const at::Tensor m_new = at::maximum(m, std::get<0>(s.max(2)));
    const at::Tensor m_safe = m_new.masked_fill(m_new == kNegInf, 0.0);   // rows with no key yet
    const at::Tensor alpha = (m - m_safe).exp_();
    s.sub_(m_safe.unsqueeze(2)).exp_();                     // s now holds p
    l.mul_(alpha).add_(s.sum(2));
    o.mul_(alpha.unsqueeze(2)).add_(at::matmul(s, vc));
    m = m_new;
  }
  const at::Tensor empty = l == 0;
  r.m = m.masked_fill(empty, 0.0);
  r.l = l.masked_fill(empty, 1.0);
  r.out = o.div_(r.l.unsqueeze(2));                         // empty rows: 0 / 1
  r.lse = (m + l.log());                                    // empty rows: -inf + -inf
  return r;
}

at::Tensor load_query_tile(const at::Tensor& q, const TileTask& task, int64_t g,
                           at::ScalarType acc, double scale) {
  return q[task.seq.batch]
      .narrow(0, task.seq.q_start + task.row0, task.rows)
      .narrow(1, task.kv_head * g, g)   // [T, g, D]
      .permute({1, 0, 2})
      .to(acc)
      .mul(scale)
      .contiguous();
}

void store_tile(const TileTask& task, int64_t g, const TileResult& r, at::Tensor& out,
                at::Tensor& lse) {
  const int64_t row = task.seq.q_start + task.row0;
  out[task.seq.batch].narrow(0, row, task.rows).narrow(1, task.kv_head * g, g)
      .copy_(r.out.permute({1, 0, 2}));
  if (lse.defined()) {
    lse[task.seq.batch].narrow(0, task.kv_head * g, g).narrow(1, row, task.rows).copy_(r.lse);
  }
}

}  // namespace seer::kernels::ref
