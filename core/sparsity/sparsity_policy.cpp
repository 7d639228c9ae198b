#include "core/sparsity/sparsity_policy.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

namespace seer::core {
namespace {

const at::Tensor& source_scores(const SparsityInputs& in, ScoreSource source, const char* who) {
  const at::Tensor& s = source == ScoreSource::kGate ? in.gate_scores : in.ground_truth;
  TORCH_CHECK(s.defined(), who, ": needs ", source == ScoreSource::kGate ? "gate scores P" :
              "the ground-truth block map G", " for layer ", in.layer);
  return s;
}

}  // namespace

at::Tensor SparsityPolicy::mask(const SparsityInputs& in) const {
  return finalize_block_mask(select(in), in.geo, options_);
}

at::Tensor DensePolicy::select(const SparsityInputs& in) const {
  return causal_block_mask(in.geo);
}

std::string ThresholdPolicy::name() const {
  return source_ == ScoreSource::kGate ? "threshold" : "oracle_threshold";
}

at::Tensor ThresholdPolicy::select(const SparsityInputs& in) const {
  return mask_from_threshold(source_scores(in, source_, "threshold policy"), in.geo, tau_);
}

std::string TopkPolicy::name() const {
  return source_ == ScoreSource::kGate ? "topk" : "oracle_topk";
}

at::Tensor TopkPolicy::select(const SparsityInputs& in) const {
  return mask_from_topk(source_scores(in, source_, "topk policy"), in.geo, k_, keep_ratio_);
}

at::Tensor StreamingPolicy::select(const SparsityInputs& in) const {
  const auto& geo = in.geo;
  const auto opts = at::TensorOptions().dtype(at::kLong).device(geo.device);
  auto rows = (at::arange(geo.nbq(), opts) + geo.q_block_offset()).view({1, 1, geo.nbq(), 1});
  auto cols = at::arange(geo.nbk(), opts).view({1, 1, 1, geo.nbk()});
  return (cols < sink_blocks_).logical_or(rows - cols < local_blocks_);
}

at::Tensor RandomPolicy::select(const SparsityInputs& in) const {
  const auto& geo = in.geo;
  auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(seed_) * 1000003ULL +
                                            static_cast<uint64_t>(in.layer));
  auto scores = at::empty({geo.batch, geo.heads, geo.nbq(), geo.nbk()}, at::kFloat);
  scores.uniform_(0.0, 1.0, gen);
  return mask_from_topk(scores.to(geo.device), geo, 0, keep_ratio_);
}

std::unique_ptr<SparsityPolicy> parse_sparsity_policy(const config::ConfigReader& r) {
  const std::string kind = r.get_choice(
      "policy", {"dense", "threshold", "topk", "oracle_threshold", "oracle_topk", "streaming",
                 "vertical_slash", "random"});
  MaskOptions o;
  o.keep_sink = r.get<bool>("keep_sink", false);
  o.dense_last_rows = r.get<int64_t>("dense_last_rows", 0);
  if (o.dense_last_rows < 0) r.fail("dense_last_rows", "expected >= 0");

  auto ratio = [&](const char* key, double fallback) {
    const double v = r.get<double>(key, fallback);
    if (!(v > 0.0 && v <= 1.0)) r.fail(key, "expected a ratio in (0, 1]");
    return v;
  };
  std::unique_ptr<SparsityPolicy> p;
  if (kind == "dense") {
    p = std::make_unique<DensePolicy>(o);
  } else if (kind == "threshold" || kind == "oracle_threshold") {
    const double tau = r.get<double>("tau");
    if (!(tau >= 0.0 && tau < 1.0)) r.fail("tau", "expected a threshold in [0, 1)");
    p = std::make_unique<ThresholdPolicy>(
        tau, kind == "threshold" ? ScoreSource::kGate : ScoreSource::kOracle, o);
  } else if (kind == "topk" || kind == "oracle_topk") {
    const int64_t k = r.get<int64_t>("k", 0);
    if (k < 0) r.fail("k", "expected blocks per row >= 1 (or 0 to use keep_ratio)");
    const double keep = k > 0 ? 0.0 : ratio("keep_ratio", 0.0);
    p = std::make_unique<TopkPolicy>(
        k, keep, kind == "topk" ? ScoreSource::kGate : ScoreSource::kOracle, o);
  } else if (kind == "streaming") {
    const int64_t sink = r.get<int64_t>("sink_blocks", 1);
    const int64_t local = r.get<int64_t>("local_blocks");
    if (sink < 0) r.fail("sink_blocks", "expected >= 0");
    if (local < 1) r.fail("local_blocks", "expected >= 1 (the diagonal block counts)");
    p = std::make_unique<StreamingPolicy>(sink, local, o);
  } else if (kind == "vertical_slash") {
    VerticalSlashOptions vs;
    vs.vertical_size = r.get<int64_t>("vertical_size", vs.vertical_size);
    vs.slash_size = r.get<int64_t>("slash_size", vs.slash_size);
    if (vs.vertical_size < 0) r.fail("vertical_size", "expected >= 0 tokens");
    if (vs.slash_size < 0) r.fail("slash_size", "expected >= 0 tokens");
    if (vs.vertical_size == 0) vs.vertical_ratio = ratio("vertical_ratio", 0.0);
    if (vs.slash_size == 0) vs.slash_ratio = ratio("slash_ratio", 0.0);
    p = std::make_unique<VerticalSlashPolicy>(vs, o);
  } else {
    const double keep = ratio("keep_ratio", 0.0);
    p = std::make_unique<RandomPolicy>(keep, r.get<int64_t>("seed", 0), o);
  }
  r.finish();
  return p;
}

}  // namespace seer::core
