#include "core/sparsity/sparsity_policy.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace seer::core {
namespace {

const at::Tensor& source_scores(const SparsityInputs& in, ScoreSource source, const char* who) {
  const at::Tensor& s = source == ScoreSource::kGate ? in.gate_scores : in.ground_truth;
  TORCH_CHECK(s.defined(), who, ": needs ", source == ScoreSource::kGate ? "gate scores P" :
              "the ground-truth block map G", " for layer ", in.layer);
  return s;
}

// The forced blocks of a policy's options [B or 1, 1, nbq, nbk] (diagonal, sink, last rows).
at::Tensor forced_blocks(const SparsityInputs& in, const MaskOptions& o) {
  const auto& geo = in.geo;
  return finalize_block_mask(at::zeros({1, 1, geo.nbq(), geo.nbk()}, at::kBool), geo, o);
}

// Scores in float32 on the mask's device, forced blocks ranked first (+inf), outside the causal
// region -inf.
at::Tensor forced_first(const at::Tensor& scores, const at::Tensor& forced,
                        const BlockGeometry& geo) {
  const auto inf = std::numeric_limits<float>::infinity();
  const auto opts = at::TensorOptions().dtype(at::kFloat).device(geo.device);
  return at::where(forced, at::full({}, inf, opts), scores.to(geo.device, at::kFloat))
      .masked_fill(causal_block_mask(geo).logical_not(), -inf);
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

TopkPolicy::TopkPolicy(TopkCount count, ForcedBlocks forced, ScoreSource source, MaskOptions o)
    : SparsityPolicy(o), count_(count), forced_(forced), source_(source) {
  if (forced_ == ForcedBlocks::kScored) {
    TORCH_CHECK(!o.keep_sink, "topk policy: forced_blocks scored forces nothing, keep_sink "
                "forces the sink block");
    options_.keep_diagonal = false;
  }
}

at::Tensor TopkPolicy::select(const SparsityInputs& in) const {
  const auto& geo = in.geo;
  const at::Tensor& scores = source_scores(in, source_, "topk policy");
  if (count_.nz_ratio <= 0.0 && forced_ == ForcedBlocks::kAdded)
    return mask_from_topk(scores, geo, count_.k, count_.keep_ratio);
  const at::Tensor causal = causal_block_mask(geo);
  const at::Tensor per_row = causal.sum(-1, /*keepdim=*/true);  // [B, 1, nbq, 1]
  at::Tensor keep;
  if (count_.k > 0) {
    keep = at::clamp_max(per_row, count_.k);
  } else if (count_.keep_ratio > 0.0) {
    keep = at::round(per_row.to(at::kDouble) * count_.keep_ratio).to(at::kLong);
    keep = at::minimum(at::clamp_min(keep, 1), per_row);
  } else {
    // The reference's k: one count for every row of a sequence, from its number of blocks
    // (within a chunked prefill: the key blocks seen so far).
    const double ratio = 1.0 - std::sqrt(1.0 - count_.nz_ratio);
    auto nb = valid_key_blocks(geo).to(at::kDouble).view({geo.batch, 1, 1, 1});
    auto k = at::clamp_min(at::floor(nb * ratio).to(at::kLong), 1);
    keep = at::minimum(k.expand_as(per_row), per_row);
  }
  if (forced_ != ForcedBlocks::kInside) return mask_from_topk_counts(scores, geo, keep);
  // The forced blocks rank first and use up their share of the row's k.
  const at::Tensor forced = forced_blocks(in, options_);
  const at::Tensor forced_row = forced.sum(-1, /*keepdim=*/true);  // [B, Hq, nbq, 1], same per head
  keep = at::maximum(keep, forced_row.narrow(1, 0, 1));
  return mask_from_topk_counts(forced_first(scores, forced, geo), geo, keep);
}

at::Tensor TopPPolicy::select(const SparsityInputs& in) const {
  const auto& geo = in.geo;
  const at::Tensor causal = causal_block_mask(geo);
  const at::Tensor s = source_scores(in, source_, "top_p policy").to(geo.device, at::kFloat)
                           .masked_fill(causal.logical_not(), 0.0f);
  const at::Tensor ranked = forced_first(s, forced_blocks(in, options_), geo);
  // Stable: among equal scores the lower block index comes first, as in top-k.
  const auto order = std::get<1>(at::sort(ranked, /*stable=*/true, /*dim=*/-1, /*descending=*/true));
  const at::Tensor sorted = s.gather(-1, order).to(at::kDouble);
  const at::Tensor before = sorted.cumsum(-1) - sorted;   // mass of the better-ranked blocks
  const at::Tensor total = s.to(at::kDouble).sum(-1, /*keepdim=*/true);
  // A block is needed while the blocks ranked before it hold less than `mass` of the row.
  const at::Tensor keep_sorted = before < total * mass_;
  auto mask = at::zeros(order.sizes(), at::TensorOptions().dtype(at::kBool).device(geo.device));
  mask.scatter_(-1, order, keep_sorted);
  return mask.logical_and(causal);
}

at::Tensor OracleCountPolicy::select(const SparsityInputs& in) const {
  const auto& geo = in.geo;
  const at::Tensor forced = forced_blocks(in, options_);
  const at::Tensor oracle = ThresholdPolicy(tau_, ScoreSource::kOracle, options_).mask(in);
  const at::Tensor count = oracle.sum(-1, /*keepdim=*/true);   // [B, Hq, nbq, 1]
  const at::Tensor ranked =
      forced_first(source_scores(in, ScoreSource::kGate, "gate_oracle_count policy"), forced, geo);
  return mask_from_topk_counts(ranked, geo, count);
}

CalibratedThresholdPolicy::CalibratedThresholdPolicy(ScoreSource source, ThresholdTable table,
                                                     MaskOptions o)
    : SparsityPolicy(o), source_(source), table_(std::move(table)), bound_(true) {
  options_.keep_sink = table_.keep_sink;
  options_.dense_last_rows = table_.dense_last_rows;
}

CalibratedThresholdPolicy::CalibratedThresholdPolicy(ScoreSource source, std::string why,
                                                     MaskOptions o)
    : SparsityPolicy(o), source_(source), why_unbound_(std::move(why)) {}

at::Tensor CalibratedThresholdPolicy::select(const SparsityInputs& in) const {
  TORCH_CHECK(bound_, "calibrated_threshold policy: ", why_unbound_);
  const auto& geo = in.geo;
  const at::Tensor& scores = source_scores(in, source_, "calibrated_threshold policy");
  const int64_t L = static_cast<int64_t>(table_.tau.size());
  TORCH_CHECK(in.layer >= 0 && in.layer < L, "calibrated_threshold policy: layer ", in.layer,
              " but the thresholds cover ", L, " layers");
  TORCH_CHECK(static_cast<int64_t>(table_.tau[in.layer].size()) == geo.heads,
              "calibrated_threshold policy: ", geo.heads, " query heads but the thresholds have ",
              table_.tau[in.layer].size());
  TORCH_CHECK(geo.block == table_.block_size, "calibrated_threshold policy: block size ",
              geo.block, " but the thresholds were calibrated at block size ", table_.block_size);
  if (!device_tau_.defined() || device_tau_.device() != geo.device) {
    std::vector<float> flat;
    for (const auto& row : table_.tau) flat.insert(flat.end(), row.begin(), row.end());
    device_tau_ = at::tensor(flat, at::kFloat).view({L, geo.heads}).to(geo.device);
  }
  auto tau = device_tau_[in.layer].view({1, geo.heads, 1, 1});
  return scores.to(geo.device, at::kFloat).gt(tau).logical_and(causal_block_mask(geo));
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

namespace {

std::unique_ptr<SparsityPolicy> parse_calibrated(const config::ConfigReader& r,
                                                 const PolicyResources& res) {
  const std::string source_name = r.get_choice("source", {"gate", "oracle"});
  const ScoreSource source = source_name == "gate" ? ScoreSource::kGate : ScoreSource::kOracle;
  const std::string thresholds = r.get<std::string>("thresholds");
  if (thresholds.empty()) r.fail("thresholds", "expected a calibrate stage id or a thresholds.json path");
  const double target = r.get<double>("target_sparsity");
  if (!(target >= 0.0 && target <= 1.0)) r.fail("target_sparsity", "expected a sparsity in [0, 1]");
  const Granularity gran = parse_granularity(
      r.get_choice("granularity", {"head", "layer", "global", "head_oracle", "head_mass"}));
  const int64_t context = r.get<int64_t>("calibration_context", 0);
  if (context < 0) r.fail("calibration_context", "expected >= 0 (0 = the context it runs at)");
  // The forced blocks are the calibration's; given here, they must agree with it.
  const auto keep_sink = r.get_optional<bool>("keep_sink");
  const auto last_rows = r.get_optional<int64_t>("dense_last_rows");
  r.finish();
  MaskOptions o;
  o.keep_sink = keep_sink.value_or(false);
  o.dense_last_rows = last_rows.value_or(0);
  if (!res.threshold_file) {
    return std::make_unique<CalibratedThresholdPolicy>(
        source, fmt::format("thresholds '{}' not loaded: this stage does not read calibrated "
                            "thresholds", thresholds), o);
  }
  ThresholdTable table;
  try {
    const auto file = res.threshold_file(thresholds);
    table = load_threshold_table(file, context > 0 ? context : res.context,
                                 source == ScoreSource::kGate ? CalibrationSource::kGate
                                                              : CalibrationSource::kOracle,
                                 gran, target);
  } catch (const std::runtime_error& e) {
    r.fail(context > 0 ? "calibration_context" : "thresholds", e.what());
  }
  if (keep_sink && *keep_sink != table.keep_sink)
    r.fail("keep_sink", fmt::format("the thresholds were calibrated with keep_sink: {}",
                                    table.keep_sink));
  if (last_rows && *last_rows != table.dense_last_rows)
    r.fail("dense_last_rows", fmt::format("the thresholds were calibrated with dense_last_rows: {}",
                                          table.dense_last_rows));
  return std::make_unique<CalibratedThresholdPolicy>(source, std::move(table), o);
}

}  // namespace

std::unique_ptr<SparsityPolicy> parse_sparsity_policy(const config::ConfigReader& r,
                                                      const PolicyResources& resources) {
  const std::string kind = r.get_choice(
      "policy", {"dense", "threshold", "topk", "oracle_threshold", "oracle_topk", "top_p",
                 "oracle_top_p", "gate_oracle_count", "calibrated_threshold", "streaming",
                 "vertical_slash", "random"});
  if (kind == "calibrated_threshold") return parse_calibrated(r, resources);
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
  } else if (kind == "top_p" || kind == "oracle_top_p") {
    const double mass = r.get<double>("mass");
    if (!(mass > 0.0 && mass <= 1.0)) r.fail("mass", "expected a share of the row's score in (0, 1]");
    p = std::make_unique<TopPPolicy>(
        mass, kind == "top_p" ? ScoreSource::kGate : ScoreSource::kOracle, o);
  } else if (kind == "gate_oracle_count") {
    const double tau = r.get<double>("tau");
    if (!(tau >= 0.0 && tau < 1.0)) r.fail("tau", "expected a threshold in [0, 1)");
    p = std::make_unique<OracleCountPolicy>(tau, o);
  } else if (kind == "topk" || kind == "oracle_topk") {
    TopkCount count;
    count.k = r.get<int64_t>("k", 0);
    if (count.k < 0) r.fail("k", "expected blocks per row >= 1 (or 0 to use keep_ratio / nz_ratio)");
    if (const auto nz = r.get_optional<double>("nz_ratio")) {
      if (count.k > 0 || r.has("keep_ratio"))
        r.fail("nz_ratio", "give one of k, keep_ratio and nz_ratio (k: 0 with keep_ratio or nz_ratio)");
      if (!(*nz > 0.0 && *nz <= 1.0)) r.fail("nz_ratio", "expected a density in (0, 1]");
      count.nz_ratio = *nz;
    } else if (count.k == 0) {
      count.keep_ratio = ratio("keep_ratio", 0.0);
    }
    const std::string forced = r.get_choice("forced_blocks", {"added", "inside", "scored"}, "added");
    const ForcedBlocks rule = forced == "added"    ? ForcedBlocks::kAdded
                              : forced == "inside" ? ForcedBlocks::kInside
                                                   : ForcedBlocks::kScored;
    if (rule == ForcedBlocks::kScored && o.keep_sink)
      r.fail("keep_sink", "forced_blocks: scored forces nothing; keep_sink forces the sink block");
    p = std::make_unique<TopkPolicy>(count, rule,
                                     kind == "topk" ? ScoreSource::kGate : ScoreSource::kOracle, o);
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
