#include "core/gate/attn_gate.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <cmath>
#include <limits>
#include <utility>

namespace seer::core {
namespace {

int64_t q_in_features(const GateConfig& c, const GateShape& s) {
  return s.head_dim * static_cast<int64_t>(c.q_pools.size());
}
int64_t k_in_features(const GateConfig& c, const GateShape& s) {
  return s.head_dim * static_cast<int64_t>(c.k_pools.size());
}

void check_weight(const at::Tensor& w, const char* name, int64_t heads, int64_t in, int64_t out) {
  TORCH_CHECK(w.dim() == 3, "AttnGate: ", name, " must be [heads, in, d], got ", w.sizes());
  TORCH_CHECK(w.size(0) == heads, "AttnGate: ", name, " dim 0 (heads) = ", w.size(0),
              ", expected ", heads);
  TORCH_CHECK(w.size(1) == in, "AttnGate: ", name, " dim 1 (D * pools) = ", w.size(1),
              ", expected ", in);
  TORCH_CHECK(w.size(2) == out, "AttnGate: ", name, " dim 2 (d) = ", w.size(2), ", expected ",
              out);
}

// x [B, H, n, d] rotated per row n (HF rotate-half layout over the first r channels, the rest
// kept as flash-attn's apply_rotary_emb does), cos/sin [n, r] with r <= d.
at::Tensor rotate(const at::Tensor& x, const std::pair<at::Tensor, at::Tensor>& cos_sin) {
  const int64_t d = x.size(-1), r = cos_sin.first.size(-1);
  auto xr = r == d ? x : x.narrow(-1, 0, r);
  auto x1 = xr.narrow(-1, 0, r / 2);
  auto x2 = xr.narrow(-1, r / 2, r / 2);
  auto out = xr * cos_sin.first + at::cat({-x2, x1}, -1) * cos_sin.second;
  return r == d ? out : at::cat({out, x.narrow(-1, r, d - r)}, -1);
}

int64_t rope_dim_of(const GateConfig& cfg, const GateShape& shape) {
  if (cfg.rope_dim == "hidden_size") return cfg.hidden_size;
  TORCH_CHECK(cfg.rope_dim == "head_dim", "AttnGate: rope_dim '", cfg.rope_dim,
              "': expected hidden_size | head_dim");
  // The reference rotates with flash-attn there, which needs rotary dim <= d.
  TORCH_CHECK(shape.head_dim <= cfg.hidden_size && shape.head_dim % 2 == 0,
              "AttnGate: rope_dim head_dim needs an even D <= d (got D = ", shape.head_dim,
              ", d = ", cfg.hidden_size, ")");
  return shape.head_dim;
}

// distance_bucket (gate_config.h) of every element of `delta` (long, >= 0), on its device.
at::Tensor distance_buckets_of(const at::Tensor& delta, int64_t n) {
  const int64_t h = n / 2;
  // + 1e-9: distances at 2^k * h give exact powers of two, whose log2 must not round below k.
  auto octave = at::floor(at::log2(delta.clamp_min(h).to(at::kDouble) / static_cast<double>(h)) +
                          1e-9).to(at::kLong);
  return at::where(delta < h, delta, (octave + h).clamp_max(n - 1));
}

}  // namespace

at::Tensor pool_query_subblocks(const at::Tensor& q, int64_t block, int64_t subblocks,
                                const std::vector<kernels::PoolKind>& kinds,
                                const std::optional<at::Tensor>& seq_lens) {
  if (subblocks == 1) return kernels::pool_blocks(q, block, kinds, seq_lens);
  TORCH_CHECK(subblocks > 1 && block % subblocks == 0, "pool_query_subblocks: ", subblocks,
              " sub-blocks do not divide the block size ", block);
  const int64_t sub = block / subblocks, B = q.size(0), S = q.size(1);   // sub: tokens per row
  auto pooled = kernels::pool_blocks(q, sub, kinds, seq_lens);  // [B, ceil(S / sub), H, F]
  const int64_t rows = (S + block - 1) / block * subblocks;
  const auto long_opts = at::TensorOptions().dtype(at::kLong).device(pooled.device());
  auto lens = seq_lens ? seq_lens->to(long_opts) : at::full({B}, S, long_opts);
  auto last = ((lens + sub - 1).div(sub, "floor") - 1).clamp(0, pooled.size(1) - 1);  // [B]
  auto index = at::minimum(at::arange(rows, long_opts).unsqueeze(0), last.unsqueeze(1));
  return pooled.gather(
      1, index.view({B, rows, 1, 1}).expand({B, rows, pooled.size(2), pooled.size(3)}));
}

AttnGate::AttnGate(GateConfig cfg, GateShape shape, GateRope rope, at::Tensor wq,
                   at::Tensor wk, at::Tensor distance_bias)
    : cfg_(std::move(cfg)), shape_(shape), rope_(std::move(rope)),
      rotary_(rope_.rope, rope_dim_of(cfg_, shape_), rope_.max_position_embeddings),
      wq_(std::move(wq)), wk_(std::move(wk)), bias_(std::move(distance_bias)) {
  TORCH_CHECK(shape_.num_q_heads > 0 && shape_.num_kv_heads > 0 &&
                  shape_.num_q_heads % shape_.num_kv_heads == 0,
              "AttnGate: Hkv = ", shape_.num_kv_heads, " does not divide Hq = ",
              shape_.num_q_heads);
  const int64_t d = cfg_.hidden_size;
  if (wq_.defined()) {
    check_weight(wq_, "wq", shape_.num_q_heads, q_in_features(cfg_, shape_), d);
    check_weight(wk_, "wk", shape_.num_kv_heads, k_in_features(cfg_, shape_), d);
  } else {
    TORCH_CHECK(cfg_.q_pools.size() == 1 && d == shape_.head_dim,
                "AttnGate: no Q map is only valid with one Q pooling and d == D (got ",
                cfg_.q_pools.size(), " Q poolings, d = ", d, ", D = ", shape_.head_dim, ")");
    check_weight(wk_, "wk (identity-Q layout)", shape_.num_q_heads, k_in_features(cfg_, shape_),
                 d);
  }
  const int64_t n = cfg_.distance_buckets;
  if (n > 0) {
    TORCH_CHECK(bias_.defined(), "AttnGate: distance_buckets = ", n,
                " needs a distance bias [Hq, ", n, "]");
    TORCH_CHECK(bias_.dim() == 2 && bias_.size(0) == shape_.num_q_heads && bias_.size(1) == n,
                "AttnGate: distance bias must be [Hq=", shape_.num_q_heads, ", ", n, "], got ",
                bias_.sizes());
  } else {
    TORCH_CHECK(!bias_.defined(), "AttnGate: a distance bias was given but distance_buckets = 0");
  }
}

AttnGate AttnGate::init(const GateConfig& cfg, const GateShape& shape,
                        const GateRope& rope, at::Generator& generator) {
  const auto opts = at::TensorOptions().dtype(at::kFloat);
  auto wq = at::empty({shape.num_q_heads, q_in_features(cfg, shape), cfg.hidden_size}, opts);
  auto wk = at::empty({shape.num_kv_heads, k_in_features(cfg, shape), cfg.hidden_size}, opts);
  wq.normal_(0.0, cfg.init_std, generator);
  wk.normal_(0.0, cfg.init_std, generator);
  at::Tensor bias;
  if (cfg.distance_buckets > 0) bias = at::zeros({shape.num_q_heads, cfg.distance_buckets}, opts);
  return AttnGate(cfg, shape, rope, wq, wk, bias);
}

PooledQK AttnGate::pool(const at::Tensor& q_pre_rope, const at::Tensor& k_pre_rope,
                        const std::optional<at::Tensor>& seq_lens) const {
  at::NoGradGuard no_grad;
  TORCH_CHECK(q_pre_rope.dim() == 4 && q_pre_rope.size(2) == shape_.num_q_heads &&
                  q_pre_rope.size(3) == shape_.head_dim,
              "AttnGate::pool: q must be [B, S, Hq=", shape_.num_q_heads, ", D=", shape_.head_dim,
              "], got ", q_pre_rope.sizes());
  TORCH_CHECK(k_pre_rope.dim() == 4 && k_pre_rope.size(2) == shape_.num_kv_heads &&
                  k_pre_rope.size(3) == shape_.head_dim,
              "AttnGate::pool: k must be [B, S, Hkv=", shape_.num_kv_heads, ", D=",
              shape_.head_dim, "], got ", k_pre_rope.sizes());
  return {pool_query_subblocks(q_pre_rope, cfg_.block_size, cfg_.q_subblocks, cfg_.q_pools,
                               seq_lens),
          kernels::pool_blocks(k_pre_rope, cfg_.block_size, cfg_.k_pools, seq_lens)};
}

at::Tensor AttnGate::logits(const at::Tensor& q_pooled, const at::Tensor& k_pooled,
                            int64_t q_block_offset, const std::optional<at::Tensor>& kv_blocks) const {
  return logits_in(wk_.scalar_type(), q_pooled, k_pooled, q_block_offset, kv_blocks);
}

at::Tensor AttnGate::logits_in(at::ScalarType dtype, const at::Tensor& q_pooled,
                               const at::Tensor& k_pooled, int64_t q_block_offset,
                               const std::optional<at::Tensor>& kv_blocks) const {
  const int64_t Hq = shape_.num_q_heads, Hkv = shape_.num_kv_heads, g = Hq / Hkv;
  const int64_t d = cfg_.hidden_size;
  TORCH_CHECK(q_pooled.dim() == 4 && q_pooled.size(2) == Hq &&
                  q_pooled.size(3) == q_in_features(cfg_, shape_),
              "AttnGate: pooled q must be [B, nbq, Hq=", Hq, ", ", q_in_features(cfg_, shape_),
              "], got ", q_pooled.sizes());
  TORCH_CHECK(k_pooled.dim() == 4 && k_pooled.size(2) == Hkv &&
                  k_pooled.size(3) == k_in_features(cfg_, shape_) &&
                  k_pooled.size(0) == q_pooled.size(0),
              "AttnGate: pooled k must be [B=", q_pooled.size(0), ", nbk, Hkv=", Hkv, ", ",
              k_in_features(cfg_, shape_), "], got ", k_pooled.sizes());
  const int64_t rows_per_block = cfg_.q_subblocks;
  TORCH_CHECK(q_pooled.size(1) % rows_per_block == 0, "AttnGate: pooled q has ",
              q_pooled.size(1), " rows, not a multiple of q_subblocks = ", rows_per_block);
  // nq query rows: nbq blocks of `rows_per_block` rows each.
  const int64_t B = q_pooled.size(0), nq = q_pooled.size(1), nbq = nq / rows_per_block;
  const int64_t nbk = k_pooled.size(1);
  const auto wk = wk_.to(dtype);  // no-op (same tensor) in the weights' own dtype

  auto q = q_pooled.to(wk_.device(), dtype).permute({0, 2, 1, 3});  // [B, Hq, nq, Dq]
  auto k = k_pooled.to(wk_.device(), dtype).permute({0, 2, 1, 3});  // [B, Hkv, nbk, Dk]
  if (wq_.defined()) {
    q = at::matmul(q, wq_.to(dtype));  // [B, Hq, nq, d]
    k = at::matmul(k, wk);             // [B, Hkv, nbk, d]
  } else {
    // Reference corner: a K map per query head, so K is read once per query head.
    k = k.unsqueeze(2).expand({B, Hkv, g, nbk, k.size(-1)}).reshape({B, Hq, nbk, k.size(-1)});
    k = at::matmul(k, wk);  // [B, Hq, nbk, d]
  }

  const auto long_opts = at::TensorOptions().dtype(at::kLong).device(wk_.device());
  const int64_t b = cfg_.block_size;
  // Every row of a block is rotated at the block's first token, like the keys: positions stay in
  // block units, and a row repeated past a sequence's end (pool_query_subblocks) scores exactly as
  // the row it repeats, so it cannot change the block's max.
  // The absolute block of each row.
  auto q_abs = at::arange(nq, long_opts).div(rows_per_block, "floor") + q_block_offset;
  auto q_pos = q_abs * b;
  auto k_pos = at::arange(nbk, long_opts) * b;
  q = rotate(q, rotary_.cos_sin(q_pos, dtype));
  k = rotate(k, rotary_.cos_sin(k_pos, dtype));

  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  at::Tensor s;
  if (wq_.defined() && g > 1) {
    // Shared K gate: [B, Hkv, g, nq, d] x [B, Hkv, 1, d, nbk].
    s = at::matmul(q.reshape({B, Hkv, g, nq, d}), k.unsqueeze(2).transpose(-1, -2));
    s = s.reshape({B, Hq, nq, nbk});
  } else {
    s = at::matmul(q, k.transpose(-1, -2));  // [B, Hq, nq, nbk]
  }
  s = s * scale;
  if (bias_.defined()) {
    const int64_t n = cfg_.distance_buckets;
    auto delta = (q_abs.unsqueeze(1) - at::arange(nbk, long_opts).unsqueeze(0)).clamp_min(0);
    auto bucket = distance_buckets_of(delta, n).flatten();            // [nq * nbk]
    s = s + bias_.to(dtype).index_select(1, bucket).view({1, Hq, nq, nbk});
  }

  auto masked = at::arange(nbk, long_opts).unsqueeze(0) > q_abs.unsqueeze(1);  // [nq, nbk]
  masked = masked.view({1, 1, nq, nbk});
  if (kv_blocks) {
    auto lim = kv_blocks->to(long_opts).view({B, 1, 1, 1});
    masked = masked.logical_or(at::arange(nbk, long_opts).view({1, 1, 1, nbk}) >= lim);
  }
  s = s.masked_fill(masked, -std::numeric_limits<double>::infinity());
  if (rows_per_block == 1) return s;
  // Each sub-row's log-softmax in at least float32 (a bf16 log-softmax would round the small
  // probabilities the max compares), then the max over a block's rows.
  const auto acc = at::isReducedFloatingType(dtype) ? at::kFloat : dtype;
  auto rows = at::log_softmax(s, -1, acc).view({B, Hq, nbq, rows_per_block, nbk});
  return std::get<0>(rows.max(3)).to(dtype);
}

at::Tensor AttnGate::scores(const at::Tensor& q_pooled, const at::Tensor& k_pooled,
                            int64_t q_block_offset, const std::optional<at::Tensor>& kv_blocks) const {
  return at::softmax(logits(q_pooled, k_pooled, q_block_offset, kv_blocks), -1);
}

at::Tensor AttnGate::log_scores(const at::Tensor& q_pooled, const at::Tensor& k_pooled,
                                int64_t q_block_offset,
                                const std::optional<at::Tensor>& kv_blocks) const {
  return at::log_softmax(logits(q_pooled, k_pooled, q_block_offset, kv_blocks), -1);
}

std::vector<at::Tensor> AttnGate::parameters() const {
  std::vector<at::Tensor> out;
  if (wq_.defined()) out.push_back(wq_);
  out.push_back(wk_);
  if (bias_.defined()) out.push_back(bias_);
  return out;
}

void AttnGate::set_requires_grad(bool on) {
  if (wq_.defined()) wq_.requires_grad_(on);
  wk_.requires_grad_(on);
  if (bias_.defined()) bias_.requires_grad_(on);
}

void AttnGate::to(const at::Device& device, at::ScalarType dtype) {
  const bool grad = wk_.requires_grad();
  auto move = [&](at::Tensor& w) {
    if (!w.defined()) return;
    w = w.detach().to(device, dtype).contiguous();
    if (grad) w.requires_grad_(true);
  };
  move(wq_);
  move(wk_);
  move(bias_);
}

}  // namespace seer::core
