// Formulas follow transformers 5.x modeling_rope_utils.py (_compute_*_parameters) line by line;
// float32 tensors where transformers uses them so cos/sin agree to the last bits.
#include "core/model/rope.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace seer::core {
namespace {

at::Tensor default_inv_freq(double base, int64_t d) {
  // 1 / (base ** (arange(0, d, 2).float() / d))
  at::Tensor exponent = at::arange(0, d, 2, at::kLong).to(at::kFloat) / static_cast<double>(d);
  return at::reciprocal(at::pow(base, exponent));
}

RopeFrequencies yarn(const RopeConfig& r, int64_t d) {
  const double base = r.theta;
  const double factor = r.factor;
  auto get_mscale = [](double scale, double mscale) {
    return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
  };
  double attention_factor;
  if (r.attention_factor) {
    attention_factor = *r.attention_factor;
  } else if (r.mscale && r.mscale_all_dim && *r.mscale != 0.0 && *r.mscale_all_dim != 0.0) {
    attention_factor = get_mscale(factor, *r.mscale) / get_mscale(factor, *r.mscale_all_dim);
  } else {
    attention_factor = get_mscale(factor, 1.0);
  }
  const double beta_fast = r.beta_fast && *r.beta_fast != 0.0 ? *r.beta_fast : 32.0;
  const double beta_slow = r.beta_slow && *r.beta_slow != 0.0 ? *r.beta_slow : 1.0;
  const double orig = static_cast<double>(r.original_max_position_embeddings);
  auto correction_dim = [&](double rotations) {
    return (d * std::log(orig / (rotations * 2 * M_PI))) / (2 * std::log(base));
  };
  double low = correction_dim(beta_fast), high = correction_dim(beta_slow);
  if (r.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(d - 1));
  if (low == high) high += 0.001;  // prevent a singular ramp, as transformers does
  at::Tensor pos_freqs = at::pow(base, at::arange(0, d, 2).to(at::kFloat) / static_cast<double>(d));
  at::Tensor extrapolation = 1.0 / pos_freqs;
  at::Tensor interpolation = 1.0 / (factor * pos_freqs);
  at::Tensor ramp = at::clamp((at::arange(d / 2, at::kFloat) - low) / (high - low), 0, 1);
  at::Tensor extrapolation_factor = 1 - ramp;
  at::Tensor inv_freq =
      interpolation * (1 - extrapolation_factor) + extrapolation * extrapolation_factor;
  return {inv_freq, attention_factor};
}

at::Tensor llama3(const RopeConfig& r, int64_t d) {
  at::Tensor inv_freq = default_inv_freq(r.theta, d);
  const double old_context = static_cast<double>(r.original_max_position_embeddings);
  const double low_wavelen = old_context / r.low_freq_factor;
  const double high_wavelen = old_context / r.high_freq_factor;
  at::Tensor wavelen = 2 * M_PI / inv_freq;
  at::Tensor llama = at::where(wavelen > low_wavelen, inv_freq / r.factor, inv_freq);
  at::Tensor smooth = (old_context / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
  at::Tensor smoothed = (1 - smooth) * llama / r.factor + smooth * llama;
  at::Tensor medium = at::logical_not(wavelen < high_wavelen).logical_and(at::logical_not(wavelen > low_wavelen));
  return at::where(medium, smoothed, llama);
}

}  // namespace

RopeFrequencies rope_frequencies(const RopeConfig& r, int64_t d, int64_t max_positions, int64_t seq_len) {
  if (d <= 0 || d % 2 != 0) throw std::invalid_argument(fmt::format("rotary dim {} must be even and positive", d));
  switch (r.kind) {
    case RopeKind::kDefault: return {default_inv_freq(r.theta, d), 1.0};
    case RopeKind::kLinear: return {default_inv_freq(r.theta, d) / r.factor, 1.0};
    case RopeKind::kDynamic: {
      const double len = static_cast<double>(std::max(seq_len, max_positions));
      const double base = r.theta * std::pow(r.factor * len / max_positions - (r.factor - 1),
                                             static_cast<double>(d) / (d - 2));
      return {default_inv_freq(base, d), 1.0};
    }
    case RopeKind::kLlama3: return {llama3(r, d), 1.0};
    case RopeKind::kYarn: return yarn(r, d);
  }
  throw std::logic_error("rope_frequencies: unknown kind");
}

RotaryEmbedding::RotaryEmbedding(const RopeConfig& rope, int64_t d, int64_t max_positions)
    : rope_(rope), d_(d), max_positions_(max_positions), base_(rope_frequencies(rope, d, max_positions)) {}

std::pair<at::Tensor, at::Tensor> RotaryEmbedding::cos_sin(const at::Tensor& positions,
                                                           at::ScalarType dtype) const {
  TORCH_CHECK(positions.dim() == 1, "rotary positions must be 1-D [S], got ", positions.sizes());
  RopeFrequencies f = base_;
  bool grown = false;
  if (rope_.kind == RopeKind::kDynamic && positions.numel() > 0) {
    // transformers grows the NTK base when the forward reaches past max_position_embeddings.
    const int64_t seq_len = positions.max().item<int64_t>() + 1;
    grown = seq_len > max_positions_;
    if (grown) f = rope_frequencies(rope_, d_, max_positions_, seq_len);
  }
  at::Tensor inv;
  if (grown) {
    inv = f.inv_freq.to(positions.device());   // this call's own base
  } else {
    std::lock_guard<std::mutex> lock(on_device_->mutex);
    at::Tensor& cached = on_device_->inv_freq;
    if (!cached.defined() || cached.device() != positions.device())
      cached = base_.inv_freq.to(positions.device());
    inv = cached;
  }
  at::Tensor freqs = positions.to(at::kFloat).unsqueeze(-1) * inv;  // [S, d/2]
  at::Tensor emb = at::cat({freqs, freqs}, -1);                     // [S, d]
  at::Tensor cos = emb.cos() * f.attention_scaling;
  at::Tensor sin = emb.sin() * f.attention_scaling;
  return {cos.to(dtype), sin.to(dtype)};
}

at::Tensor RotaryEmbedding::apply(const at::Tensor& x, const at::Tensor& positions) const {
  auto [cos, sin] = cos_sin(positions, x.scalar_type());
  return apply_rotary(x, cos, sin);
}

at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  TORCH_CHECK(x.dim() == 4, "apply_rotary: x must be [B, S, H, D], got ", x.sizes());
  const int64_t d = cos.size(-1);
  TORCH_CHECK(cos.size(0) == x.size(1), "apply_rotary: cos dim 0 (S) = ", cos.size(0),
              " but x dim 1 (S) = ", x.size(1));
  TORCH_CHECK(d <= x.size(3), "apply_rotary: rotary dim ", d, " exceeds head dim ", x.size(3));
  at::Tensor c = cos.unsqueeze(1);  // [S, 1, d] broadcasts over heads
  at::Tensor s = sin.unsqueeze(1);
  at::Tensor rot = d == x.size(3) ? x : x.narrow(3, 0, d);
  at::Tensor x1 = rot.narrow(3, 0, d / 2);
  at::Tensor x2 = rot.narrow(3, d / 2, d / 2);
  at::Tensor rotated = rot * c + at::cat({-x2, x1}, 3) * s;
  if (d == x.size(3)) return rotated;
  return at::cat({rotated, x.narrow(3, d, x.size(3) - d)}, 3);
}

}  // namespace seer::core
