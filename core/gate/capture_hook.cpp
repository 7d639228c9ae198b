#include "core/gate/capture_hook.h"

#include "kernels/attention.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>

namespace seer::core {
namespace {

at::Tensor select_heads(const at::Tensor& x, const std::vector<int64_t>& heads) {
  if (heads.empty()) return x;
  return x.index_select(1, at::tensor(heads, at::TensorOptions().dtype(at::kLong)).to(x.device()));
}

// Pieces [B, H, rows_i, nbk_i] with growing nbk_i -> [B, H, sum rows, max nbk], zero-padded.
at::Tensor join_rows(const std::vector<at::Tensor>& parts) {
  if (parts.empty()) return at::Tensor();
  int64_t nbk = 0, rows = 0;
  for (const auto& p : parts) {
    nbk = std::max(nbk, p.size(3));
    rows += p.size(2);
  }
  auto out = at::zeros({parts[0].size(0), parts[0].size(1), rows, nbk}, parts[0].options());
  int64_t row = 0;
  for (const auto& p : parts) {
    out.narrow(2, row, p.size(2)).narrow(3, 0, p.size(3)).copy_(p);
    row += p.size(2);
  }
  return out;
}

}  // namespace

at::Tensor pooled_subset(const at::Tensor& all_pools, int64_t head_dim,
                         const std::vector<kernels::PoolKind>& kinds) {
  TORCH_CHECK(all_pools.size(-1) == 3 * head_dim, "pooled_subset: last dim = ",
              all_pools.size(-1), ", expected 3 * D = ", 3 * head_dim);
  auto out = select_pools(all_pools, head_dim, capture_pool_kinds(), kinds);
  return out.is_same(all_pools) ? out.contiguous() : out;
}

CaptureHook::CaptureHook(CaptureOptions opts) : opts_(std::move(opts)) {
  TORCH_CHECK(!opts_.gates || opts_.gates->config.block_size == opts_.block,
              "CaptureHook: block ", opts_.block, " differs from the gates' block size ",
              opts_.gates ? opts_.gates->config.block_size : 0);
  TORCH_CHECK(!opts_.policy || !opts_.policy->needs_gate() || opts_.gates,
              "CaptureHook: policy '", opts_.policy ? opts_.policy->name() : "", "' needs gates");
}

bool CaptureHook::selected(int64_t layer) const {
  return opts_.layers.empty() ||
         std::find(opts_.layers.begin(), opts_.layers.end(), layer) != opts_.layers.end();
}

void CaptureHook::begin_sequence() { pieces_.clear(); }

std::optional<at::Tensor> CaptureHook::attend(const LayerAttentionInput& in) {
  at::NoGradGuard no_grad;
  kernels::AttnOptions opts;
  opts.scale = in.scale;
  opts.seq_lens = in.seq_lens;
  auto r = kernels::attention_with_block_maxpool(in.q, in.k, in.v, opts_.block, opts);
  if (!selected(in.layer)) return r.out;

  Pieces& pc = pieces_[in.layer];
  const BlockGeometry geo = BlockGeometry::of(in.q, in.k, opts_.block, in.seq_lens);
  auto keep = [&](const at::Tensor& t) { return opts_.to_host ? t.cpu() : t; };
  pc.g.push_back(keep(select_heads(r.block_maxpool, opts_.heads).to(opts_.g_dtype)));
  at::Tensor q_pool, k_pool;
  if (opts_.pooled || opts_.gates) {
    k_pool = kernels::pool_blocks(in.k_pre_rope, opts_.block, capture_pool_kinds(), in.seq_lens);
  }
  if (opts_.pooled) {
    q_pool = pool_query_subblocks(in.q_pre_rope, opts_.block, opts_.q_subblocks,
                                  capture_pool_kinds(), in.seq_lens);
    pc.q.push_back(keep(q_pool.to(opts_.pooled_dtype)));
    pc.k.push_back(keep(k_pool.to(opts_.pooled_dtype)));
  }
  SparsityInputs si;
  si.geo = geo;
  si.layer = in.layer;
  si.scale = in.scale;
  si.ground_truth = r.block_maxpool;
  si.q = in.q;
  si.k = in.k;
  if (opts_.gates) {
    const auto& gate = opts_.gates->layers.at(in.layer);
    const int64_t D = in.q_pre_rope.size(3);
    auto kp = pooled_subset(k_pool, D, gate.config().k_pools);
    pc.k_all = in.q_offset == 0 || !pc.k_all.defined() ? kp : at::cat({pc.k_all, kp}, 1);
    std::optional<at::Tensor> kv_blocks;
    if (in.seq_lens) kv_blocks = valid_key_blocks(geo);
    // The recorded Q pooling serves the gate when its sub-blocks are the gate's; else its own.
    const int64_t rows = gate.config().q_subblocks;
    auto qp = q_pool.defined() && rows == opts_.q_subblocks
                  ? pooled_subset(q_pool, D, gate.config().q_pools)
                  : pool_query_subblocks(in.q_pre_rope, opts_.block, rows, gate.config().q_pools,
                                         in.seq_lens);
    si.gate_scores = gate.scores(qp, pc.k_all, in.q_offset / opts_.block, kv_blocks);
    pc.p.push_back(keep(select_heads(si.gate_scores.to(at::kFloat), opts_.heads)));
  }
  if (opts_.policy)
    pc.mask.push_back(keep(select_heads(opts_.policy->mask(si), opts_.heads)));
  return r.out;
}

std::map<int64_t, CapturedLayer> CaptureHook::take() {
  std::map<int64_t, CapturedLayer> out;
  for (auto& [layer, pc] : pieces_) {
    CapturedLayer c;
    c.g = join_rows(pc.g);
    if (!pc.q.empty()) {
      c.q_pooled = at::cat(pc.q, 1);
      c.k_pooled = at::cat(pc.k, 1);
    }
    c.p = join_rows(pc.p);
    c.mask = join_rows(pc.mask);
    out.emplace(layer, std::move(c));
  }
  pieces_.clear();
  return out;
}

}  // namespace seer::core
