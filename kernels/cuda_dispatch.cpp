// The CUDA side of kernels/attention.h: allocates outputs with ATen on the current stream, fills
// AttnParams (kernels/params.h) and calls the launchers of kernels/cuda/*.cu. Inputs were checked
// by kernels/attention.cpp before these run. Built without SEER_WITH_CUDA every entry point
// throws and available() is false.
#include "kernels/cuda_dispatch.h"

#include <c10/util/Exception.h>

#include <cstdlib>

namespace seer::kernels::cuda_dispatch {
bool poison_outputs() {
  const char* env = std::getenv("SEER_POISON_OUTPUTS");
  return env != nullptr && env[0] == '1';
}
}  // namespace seer::kernels::cuda_dispatch

#ifdef SEER_WITH_CUDA

#include "kernels/cuda/block_index.h"
#include "kernels/cuda/launch.h"
#include "kernels/params.h"
#include "kernels/pool_full_blocks.h"
#include "kernels/seq_spans.h"

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include <cmath>
#include <cstdint>
#include <algorithm>
#include <cstdlib>
#include <limits>

namespace seer::kernels::cuda_dispatch {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

at::Tensor new_output(at::IntArrayRef sizes, const at::TensorOptions& options) {
  return poison_outputs() ? at::full(sizes, kNaN, options) : at::empty(sizes, options);
}

// cp.async moves 16-byte chunks: rows must start on 16-byte boundaries.
at::Tensor aligned_rows(const at::Tensor& t) {
  const bool ok = reinterpret_cast<uintptr_t>(t.data_ptr()) % 16 == 0 && t.stride(0) % 8 == 0 &&
                  t.stride(1) % 8 == 0 && t.stride(2) % 8 == 0;
  return ok ? t : t.contiguous();
}

bool is_varlen(const AttnOptions& opts) {
  return opts.cu_seqlens_q.has_value() && opts.cu_seqlens_q->defined();
}
bool is_padded(const AttnOptions& opts) {
  return opts.seq_lens.has_value() && opts.seq_lens->defined();
}

// Keeps the tensors the params point into (aligned inputs, int32 lengths) alive while the
// kernels run.
struct LengthTensors {
  at::Tensor q, k, v;
  at::Tensor seq_lens, cu_q, cu_k;
};

// Fills everything but the mode-specific fields; returns the tensors the pointers refer to.
LengthTensors fill_params(AttnParams& p, const at::Tensor& q_in, const at::Tensor& k_in,
                          const at::Tensor& v_in, const at::Tensor& out, const at::Tensor& lse,
                          const AttnOptions& opts) {
  LengthTensors lengths;
  lengths.q = aligned_rows(q_in);
  lengths.k = aligned_rows(k_in);
  lengths.v = aligned_rows(v_in);
  const at::Tensor& q = lengths.q;
  const at::Tensor& k = lengths.k;
  const at::Tensor& v = lengths.v;
  p.q = q.data_ptr();
  p.k = k.data_ptr();
  p.v = v.data_ptr();
  p.out = out.data_ptr();
  p.lse = lse.defined() ? lse.data_ptr<float>() : nullptr;
  p.q_batch_stride = q.stride(0), p.q_row_stride = q.stride(1), p.q_head_stride = q.stride(2);
  p.k_batch_stride = k.stride(0), p.k_row_stride = k.stride(1), p.k_head_stride = k.stride(2);
  p.v_batch_stride = v.stride(0), p.v_row_stride = v.stride(1), p.v_head_stride = v.stride(2);
  p.o_batch_stride = out.stride(0), p.o_row_stride = out.stride(1),
  p.o_head_stride = out.stride(2);
  if (lse.defined()) p.lse_batch_stride = lse.stride(0), p.lse_head_stride = lse.stride(1);
  p.q_rows = q.size(1);
  p.k_rows = k.size(1);
  p.hq = static_cast<int>(q.size(2));
  p.hkv = static_cast<int>(k.size(2));
  p.head_dim = static_cast<int>(q.size(3));
  p.head_begin = 0;
  p.head_count = p.hq;
  p.scale = static_cast<float>(opts.scale > 0.0 ? opts.scale : 1.0 / std::sqrt(double(q.size(3))));
  p.causal = opts.causal;
  p.dtype = q.scalar_type() == at::kBFloat16 ? AttnDtype::kBF16 : AttnDtype::kF16;
  p.stream = at::cuda::getCurrentCUDAStream(q.device().index()).stream();
  if (is_varlen(opts)) {
    lengths.cu_q = opts.cu_seqlens_q->to(q.device(), at::kInt).contiguous();
    lengths.cu_k = opts.cu_seqlens_k->to(q.device(), at::kInt).contiguous();
    const at::Tensor dq = (lengths.cu_q.slice(0, 1) - lengths.cu_q.slice(0, 0, -1)).cpu();
    const at::Tensor dk = (lengths.cu_k.slice(0, 1) - lengths.cu_k.slice(0, 0, -1)).cpu();
    p.batch = static_cast<int>(lengths.cu_q.size(0) - 1);
    p.sq = p.batch > 0 ? dq.max().item<int>() : 0;
    p.sk = p.batch > 0 ? dk.max().item<int>() : 0;
    p.cu_seqlens_q = lengths.cu_q.data_ptr<int32_t>();
    p.cu_seqlens_k = lengths.cu_k.data_ptr<int32_t>();
    // Sequences are rows of one batch entry: the batch strides stay unused.
    p.q_batch_stride = p.k_batch_stride = p.v_batch_stride = p.o_batch_stride = 0;
    p.lse_batch_stride = 0;
  } else {
    p.batch = static_cast<int>(q.size(0));
    p.sq = static_cast<int>(q.size(1));
    p.sk = static_cast<int>(k.size(1));
    if (is_padded(opts)) {
      lengths.seq_lens = opts.seq_lens->to(q.device(), at::kInt).contiguous();
      p.seq_lens = lengths.seq_lens.data_ptr<int32_t>();
    }
  }
  return lengths;
}

AttnResult alloc_result(const at::Tensor& q, const AttnOptions& opts) {
  AttnResult res;
  res.out = new_output(q.sizes(), q.options());
  if (opts.return_lse)
    res.lse = new_output({q.size(0), q.size(2), q.size(1)}, q.options().dtype(at::kFloat));
  return res;
}

// Kept-block mask [B, Hq, nbq, nbk] from a compact index (entries past counts ignored).
at::Tensor mask_from_index(const BlockIndex& blocks) {
  const int64_t nbk = blocks.indices.size(3);
  const at::Tensor cols = at::arange(nbk, blocks.indices.options().dtype(at::kLong));
  const at::Tensor valid = cols < blocks.counts.to(at::kLong).unsqueeze(-1);
  const at::Tensor idx = at::where(valid, blocks.indices.to(at::kLong), at::zeros_like(cols));
  at::Tensor hits = at::zeros(blocks.indices.sizes(), blocks.indices.options());
  hits.scatter_add_(3, idx, valid.to(at::kInt));
  return hits > 0;
}

// Index lists from a bool mask [B, H, nbq, nbk] on the GPU (kernels/cuda/block_index.cu):
// column j of row i is kept if the mask keeps it and j <= i + causal_offset.
void index_lists_from_mask(const at::Tensor& mask, int64_t causal_offset, at::Tensor& counts,
                           at::Tensor& indices) {
  const at::Tensor m = mask.to(at::kBool).contiguous();
  const auto int_opts = m.options().dtype(at::kInt);
  const auto alloc = [&](at::IntArrayRef sizes) {   // poisoned: an unwritten entry reads -7
    return poison_outputs() ? at::full(sizes, -7, int_opts) : at::empty(sizes, int_opts);
  };
  counts = alloc({m.size(0), m.size(1), m.size(2)});
  indices = alloc(m.sizes());
  cuda::BlockIndexParams p;
  p.mask = reinterpret_cast<const uint8_t*>(m.data_ptr<bool>());
  p.counts = counts.data_ptr<int32_t>();
  p.indices = indices.data_ptr<int32_t>();
  p.rows = m.size(0) * m.size(1) * m.size(2);
  p.nbq = static_cast<int>(m.size(2));
  p.nbk = static_cast<int>(m.size(3));
  p.causal_offset = static_cast<int>(std::min<int64_t>(causal_offset, m.size(3)));
  p.stream = at::cuda::getCurrentCUDAStream().stream();
  cuda::launch_block_index(p);
}

}  // namespace

bool available() {
  static const bool has_device = at::hasCUDA() && at::cuda::device_count() > 0;
  return has_device;
}

AttnResult attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const AttnOptions& opts) {
  const c10::cuda::CUDAGuard guard(q.device());
  AttnResult res = alloc_result(q, opts);
  AttnParams p;
  const LengthTensors keep_alive = fill_params(p, q, k, v, res.out, res.lse, opts);
  cuda::launch_attention_dense(p);
  return res;
}

MaxpoolResult attention_with_block_maxpool(const at::Tensor& q, const at::Tensor& k,
                                           const at::Tensor& v, int64_t block,
                                           const AttnOptions& opts) {
  const c10::cuda::CUDAGuard guard(q.device());
  AttnResult dense = alloc_result(q, opts);
  AttnParams p;
  const LengthTensors keep_alive = fill_params(p, q, k, v, dense.out, dense.lse, opts);
  const int64_t nbq = ceil_div(p.sq, block);
  const int64_t nbk = ceil_div(p.sk, block);
  at::Tensor G = at::zeros({p.batch, p.hq, nbq, nbk}, q.options().dtype(at::kFloat));
  p.pool_out = G.data_ptr<float>();
  p.pool_block = static_cast<int>(block);
  p.pool_nbq = static_cast<int>(nbq);
  p.pool_nbk = static_cast<int>(nbk);
  p.pool_rows = p.sq;
  // The per-row block maxima take B x heads x nbk x Sq floats; long sequences run a few heads
  // per launch so the scratch stays under ~4 GiB (128k tokens: 1 GiB per head).
  const int64_t per_head = std::max<int64_t>(1, int64_t(p.batch) * nbk * p.sq);
  const int64_t budget = int64_t(1) << 30;   // floats
  const int heads_per_launch =
      static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(p.hq, budget / per_head)));
  at::Tensor scratch =
      at::empty({per_head * heads_per_launch}, q.options().dtype(at::kFloat));
  p.pool_scratch = scratch.data_ptr<float>();
  for (int h0 = 0; h0 < p.hq; h0 += heads_per_launch) {
    p.head_begin = h0;
    p.head_count = std::min(heads_per_launch, p.hq - h0);
    cuda::launch_attention_maxpool(p);
  }
  // Renormalise each row of G to sum 1; rows without any visible key stay 0.
  G.div_(G.sum(3, true).clamp_min(std::numeric_limits<float>::min()));
  MaxpoolResult res;
  res.out = dense.out;
  res.lse = dense.lse;
  res.block_maxpool = G;
  return res;
}

AttnResult block_sparse_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                  const BlockIndex& blocks, const AttnOptions& opts) {
  const c10::cuda::CUDAGuard guard(q.device());
  AttnResult res = alloc_result(q, opts);
  AttnParams p;
  const LengthTensors keep_alive = fill_params(p, q, k, v, res.out, res.lse, opts);
  const int64_t tile = cuda::kSparseTileRows;
  const int64_t n_qt = ceil_div(p.sq, tile);
  const int64_t n_kt = ceil_div(p.sk, tile);
  at::Tensor counts, indices, fine;
  if (blocks.block == tile) {
    counts = blocks.counts.to(q.device(), at::kInt).contiguous();
    indices = blocks.indices.to(q.device(), at::kInt).contiguous();
  } else {
    const at::Tensor mask = mask_from_index(blocks);   // [B, Hq, nbq, nbk]
    at::Tensor tiles;
    if (blocks.block > tile) {
      const int64_t r = blocks.block / tile;
      tiles = mask.repeat_interleave(r, 2).repeat_interleave(r, 3).slice(2, 0, n_qt).slice(3, 0, n_kt);
    } else {
      const int64_t r = tile / blocks.block;
      const at::Tensor padded =
          at::constant_pad_nd(mask.to(at::kByte), {0, n_kt * r - mask.size(3), 0, n_qt * r - mask.size(2)}, 0);
      tiles = padded.view({mask.size(0), mask.size(1), n_qt, r, n_kt, r}).amax({3, 5}) > 0;
      fine = mask.to(at::kByte).contiguous();
      p.fine_mask = fine.data_ptr<uint8_t>();
      p.fine_block = static_cast<int>(blocks.block);
      p.fine_nbq = static_cast<int>(mask.size(2));
      p.fine_nbk = static_cast<int>(mask.size(3));
    }
    // Tile lists with no causal drop: the kernel masks elements, and with varlen each sequence
    // has its own diagonal.
    index_lists_from_mask(tiles, /*causal_offset=*/tiles.size(3), counts, indices);
  }
  p.tile_counts = counts.data_ptr<int32_t>();
  p.tile_indices = indices.data_ptr<int32_t>();
  p.n_qtiles = static_cast<int>(n_qt);
  p.n_ktiles = static_cast<int>(indices.size(3));
  TORCH_CHECK(counts.size(2) == n_qt, "block_sparse_attention: tile lists have ", counts.size(2),
              " query tiles, expected ", n_qt);
  // One byte per (batch, head, pair of query tiles): which launch runs the pair (variant H).
  const at::Tensor pair_choice =
      at::empty({int64_t(p.batch) * p.hq * ((n_qt + 1) / 2)}, q.options().dtype(at::kByte));
  p.pair_choice = pair_choice.data_ptr<uint8_t>();
  cuda::launch_attention_sparse(p);
  return res;
}

BlockIndex block_index_from_mask(const at::Tensor& mask, int64_t block, int64_t causal_offset) {
  const c10::cuda::CUDAGuard guard(mask.device());
  BlockIndex index;
  index.block = block;
  index_lists_from_mask(mask, causal_offset, index.counts, index.indices);
  return index;
}

at::Tensor pool_blocks(const at::Tensor& x, int64_t block, const std::vector<PoolKind>& kinds,
                       const std::optional<at::Tensor>& seq_lens) {
  // A bandwidth-bound reduction in plain ATen ops. Full blocks (every prefill chunk of a multiple
  // of the block) take the single-pass path; partial blocks and padded batches the masked one.
  const c10::cuda::CUDAGuard guard(x.device());
  if (auto pooled = pool_full_blocks(x, block, kinds, seq_lens)) return *pooled;
  const int64_t B = x.size(0), S = x.size(1), H = x.size(2), D = x.size(3);
  const int64_t nb = ceil_div(S, block);
  const auto long_opts = x.options().dtype(at::kLong);
  at::Tensor lens = seq_lens.has_value() && seq_lens->defined()
                        ? seq_lens->to(x.device(), at::kLong).view({B, 1})
                        : at::full({B, 1}, S, long_opts);
  const at::Tensor valid = (at::arange(nb * block, long_opts).view({1, -1}) < lens)
                               .view({B, nb, block, 1, 1});
  const at::Tensor xf =
      at::constant_pad_nd(x.to(at::kFloat), {0, 0, 0, 0, 0, nb * block - S}, 0.0)
          .view({B, nb, block, H, D});
  const at::Tensor count = valid.sum(2, false, at::kFloat);   // [B, nb, 1, 1]
  const at::Tensor any = count > 0;
  std::vector<at::Tensor> parts;
  for (const PoolKind kind : kinds) {
    at::Tensor r;
    if (kind == PoolKind::kAvg) {
      r = at::where(valid, xf, 0.0).sum(2) / count.clamp_min(1.0);
    } else if (kind == PoolKind::kMax) {
      r = at::where(any, at::where(valid, xf, -kInf).amax(2), 0.0);
    } else {
      r = at::where(any, at::where(valid, xf, kInf).amin(2), 0.0);
    }
    parts.push_back(r);
  }
  return at::cat(parts, 3).to(x.scalar_type()).contiguous();
}

}  // namespace seer::kernels::cuda_dispatch

#else  // !SEER_WITH_CUDA

namespace seer::kernels::cuda_dispatch {
namespace {
[[noreturn]] void no_cuda() { TORCH_CHECK(false, "Seer was built without CUDA kernels"); }
}  // namespace

bool available() { return false; }
AttnResult attention(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                     const AttnOptions&) {
  no_cuda();
}
MaxpoolResult attention_with_block_maxpool(const at::Tensor&, const at::Tensor&,
                                           const at::Tensor&, int64_t, const AttnOptions&) {
  no_cuda();
}
AttnResult block_sparse_attention(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                  const BlockIndex&, const AttnOptions&) {
  no_cuda();
}
at::Tensor pool_blocks(const at::Tensor&, int64_t, const std::vector<PoolKind>&,
                       const std::optional<at::Tensor>&) {
  no_cuda();
}
BlockIndex block_index_from_mask(const at::Tensor&, int64_t, int64_t) { no_cuda(); }
}  // namespace seer::kernels::cuda_dispatch

#endif  // SEER_WITH_CUDA
