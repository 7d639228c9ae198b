// Sparsity policies (DESIGN.md §4-5): each turns what is known about one layer's attention (the
// gate scores P, the true block map G, the post-RoPE Q/K, the geometry) into a boolean block mask
// [B, Hq, nbq, nbk] for kernels::block_sparse_attention. The learned-gate policies (threshold,
// topk) and the baselines (dense, oracle, streaming, vertical-slash, random) share one interface,
// so every table compares them at equal measured sparsity (core/sparsity/sparsity_stats.h).
// Every mask is causal, keeps the diagonal block (except top-k under the reference's rule,
// forced_blocks: scored), and optionally the sink block and the last rows.
#pragma once

#include "core/config/config_reader.h"
#include "core/sparsity/block_mask.h"
#include "core/sparsity/threshold_file.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

namespace seer::core {

struct SparsityInputs {
  BlockGeometry geo;
  int64_t layer = 0;
  at::Tensor gate_scores;   // P [B, Hq, nbq, nbk] (policies with needs_gate())
  at::Tensor ground_truth;  // G [B, Hq, nbq, nbk] (policies with needs_ground_truth())
  at::Tensor q;             // post-RoPE [B, Sq, Hq, D] (policies with needs_qk())
  at::Tensor k;             // post-RoPE [B, Sk, Hkv, D]
  double scale = 0.0;       // softmax scale; 0 = 1/sqrt(D)
};

class SparsityPolicy {
 public:
  explicit SparsityPolicy(MaskOptions options) : options_(options) {}
  virtual ~SparsityPolicy() = default;
  virtual std::string name() const = 0;
  virtual bool needs_gate() const { return false; }
  virtual bool needs_ground_truth() const { return false; }
  virtual bool needs_qk() const { return false; }
  // False only for `dense`: the hook then runs plain dense attention.
  virtual bool is_sparse() const { return true; }

  // The final mask: select(), then causal AND, diagonal, sink, dense last rows.
  at::Tensor mask(const SparsityInputs& in) const;
  const MaskOptions& options() const { return options_; }

 protected:
  // The policy's own choice, bool broadcastable to [B, Hq, nbq, nbk].
  virtual at::Tensor select(const SparsityInputs& in) const = 0;
  MaskOptions options_;
};

// Every causal block (sparsity 0); the reference point of every table.
class DensePolicy final : public SparsityPolicy {
 public:
  explicit DensePolicy(MaskOptions o = {}) : SparsityPolicy(o) {}
  std::string name() const override { return "dense"; }
  bool is_sparse() const override { return false; }
 protected:
  at::Tensor select(const SparsityInputs& in) const override;
};

// Which block map a threshold / top-k policy reads: the gate's P, or the true G (oracle).
enum class ScoreSource { kGate, kOracle };

// Blocks whose score exceeds tau.
class ThresholdPolicy final : public SparsityPolicy {
 public:
  ThresholdPolicy(double tau, ScoreSource source, MaskOptions o = {})
      : SparsityPolicy(o), tau_(tau), source_(source) {}
  std::string name() const override;
  bool needs_gate() const override { return source_ == ScoreSource::kGate; }
  bool needs_ground_truth() const override { return source_ == ScoreSource::kOracle; }
 protected:
  at::Tensor select(const SparsityInputs& in) const override;
 private:
  double tau_;
  ScoreSource source_;
};

// How a top-k row's forced blocks (the diagonal; the sink with keep_sink) relate to its k blocks.
enum class ForcedBlocks {
  kAdded,   // the k best by score, then the forced blocks added: up to k + 2 per row
  kInside,  // the forced blocks first, counted in k, the rest by score: k per row
  kScored,  // the reference's rule (get_sparse_attn_mask_from_nz_ratio): nothing is forced, the
            // diagonal competes by score like any block (keep_sink is then refused)
};

// How many blocks a top-k row keeps.
struct TopkCount {
  int64_t k = 0;            // > 0: k per row (at most the row's causal blocks)
  double keep_ratio = 0.0;  // else > 0: max(1, round(keep_ratio * the row's causal blocks))
  double nz_ratio = 0.0;    // else: the reference's density: k = max(1, floor((1 - sqrt(1 -
                            // nz_ratio)) * nb)) for every row, nb the sequence's key blocks
};

// The k best blocks per row.
class TopkPolicy final : public SparsityPolicy {
 public:
  TopkPolicy(int64_t k, double keep_ratio, ScoreSource source, MaskOptions o = {})
      : TopkPolicy(TopkCount{k, keep_ratio, 0.0}, ForcedBlocks::kAdded, source, o) {}
  TopkPolicy(TopkCount count, ForcedBlocks forced, ScoreSource source, MaskOptions o = {});
  std::string name() const override;
  bool needs_gate() const override { return source_ == ScoreSource::kGate; }
  bool needs_ground_truth() const override { return source_ == ScoreSource::kOracle; }
 protected:
  at::Tensor select(const SparsityInputs& in) const override;
 private:
  TopkCount count_;
  ForcedBlocks forced_;
  ScoreSource source_;
};

// Per row the fewest blocks, best first, whose scores add up to at least `mass` of the row's
// total over its causal blocks (top-p, nucleus). Adaptive like a threshold, but a flat row keeps
// many blocks where a threshold keeps none. Forced blocks rank first and their scores count.
class TopPPolicy final : public SparsityPolicy {
 public:
  TopPPolicy(double mass, ScoreSource source, MaskOptions o = {})
      : SparsityPolicy(o), mass_(mass), source_(source) {}
  std::string name() const override { return source_ == ScoreSource::kGate ? "top_p" : "oracle_top_p"; }
  bool needs_gate() const override { return source_ == ScoreSource::kGate; }
  bool needs_ground_truth() const override { return source_ == ScoreSource::kOracle; }
 protected:
  at::Tensor select(const SparsityInputs& in) const override;
 private:
  double mass_;
  ScoreSource source_;
};

// A diagnostic, not a method (it reads G): each row keeps as many blocks as the oracle threshold
// `tau` keeps on G (forced blocks included), chosen by the gate's P (forced blocks first). Beside
// `threshold` and `oracle_threshold` at the same sparsity it splits the gate's loss into "which
// blocks" (ranking; this policy has the oracle's counts) and "how many per row" (allocation).
class OracleCountPolicy final : public SparsityPolicy {
 public:
  OracleCountPolicy(double tau, MaskOptions o = {}) : SparsityPolicy(o), tau_(tau) {}
  std::string name() const override { return "gate_oracle_count"; }
  bool needs_gate() const override { return true; }
  bool needs_ground_truth() const override { return true; }
 protected:
  at::Tensor select(const SparsityInputs& in) const override;
 private:
  double tau_;
};

// Per-(layer, head) thresholds calibrated to a target measured sparsity (the calibrate stage's
// thresholds.json, core/sparsity/threshold_file.h): keep blocks whose score (P, or G for the
// oracle) exceeds the layer and head's threshold, compared in float32. The forced-block rules
// (keep_sink, dense_last_rows) are the calibration's.
class CalibratedThresholdPolicy final : public SparsityPolicy {
 public:
  CalibratedThresholdPolicy(ScoreSource source, ThresholdTable table, MaskOptions o = {});
  // Parsed without its file (config validation): mask() throws `why`.
  CalibratedThresholdPolicy(ScoreSource source, std::string why, MaskOptions o = {});
  std::string name() const override { return "calibrated_threshold"; }
  bool needs_gate() const override { return source_ == ScoreSource::kGate; }
  bool needs_ground_truth() const override { return source_ == ScoreSource::kOracle; }
  const ThresholdTable* table() const { return bound_ ? &table_ : nullptr; }
 protected:
  at::Tensor select(const SparsityInputs& in) const override;
 private:
  ScoreSource source_;
  ThresholdTable table_;
  bool bound_ = false;
  std::string why_unbound_;
  mutable at::Tensor device_tau_;   // [L, Hq] float32 on the device of the last call
};

// StreamingLLM's "A-shape": the first sink_blocks key blocks plus a local window of local_blocks
// blocks ending at the diagonal.
class StreamingPolicy final : public SparsityPolicy {
 public:
  StreamingPolicy(int64_t sink_blocks, int64_t local_blocks, MaskOptions o = {})
      : SparsityPolicy(o), sink_blocks_(sink_blocks), local_blocks_(local_blocks) {}
  std::string name() const override { return "streaming"; }
 protected:
  at::Tensor select(const SparsityInputs& in) const override;
 private:
  int64_t sink_blocks_;
  int64_t local_blocks_;
};

// A seeded random keep_ratio of each row's causal blocks (seed mixed with the layer index).
class RandomPolicy final : public SparsityPolicy {
 public:
  RandomPolicy(double keep_ratio, int64_t seed, MaskOptions o = {})
      : SparsityPolicy(o), keep_ratio_(keep_ratio), seed_(seed) {}
  std::string name() const override { return "random"; }
 protected:
  at::Tensor select(const SparsityInputs& in) const override;
 private:
  double keep_ratio_;
  int64_t seed_;
};

// MInference's vertical-slash pattern, estimated from the attention of each sequence's last query
// block to all keys: the top vertical columns and top slash diagonals (counts in tokens, or as a
// ratio of the keys when the count is 0), turned into the blocks they touch.
struct VerticalSlashOptions {
  int64_t vertical_size = 1000;  // MInference's default vertical_size
  int64_t slash_size = 6096;     // MInference's default slash_size
  double vertical_ratio = 0.0;   // used when vertical_size == 0
  double slash_ratio = 0.0;      // used when slash_size == 0
};

class VerticalSlashPolicy final : public SparsityPolicy {
 public:
  VerticalSlashPolicy(VerticalSlashOptions vs, MaskOptions o = {}) : SparsityPolicy(o), vs_(vs) {}
  std::string name() const override { return "vertical_slash"; }
  bool needs_qk() const override { return true; }
 protected:
  at::Tensor select(const SparsityInputs& in) const override;
 private:
  VerticalSlashOptions vs_;
};

// What a policy may need beyond its keys: where its calibrated thresholds are, and the context
// length it runs at. Without them (config validation) a calibrated policy is parsed but unbound.
struct PolicyResources {
  // The thresholds.json named by a calibrated policy's `thresholds` key (a stage id or a path).
  std::function<std::filesystem::path(const std::string&)> threshold_file;
  int64_t context = 0;   // 0 = unknown
};

// From the `sparsity` section: policy = dense | threshold | topk | oracle_threshold | oracle_topk |
// top_p | oracle_top_p | gate_oracle_count | calibrated_threshold | streaming | vertical_slash |
// random, each with its own keys (tau; mass;
// k / keep_ratio / nz_ratio, forced_blocks; source, thresholds, target_sparsity, granularity,
// calibration_context; sink_blocks, local_blocks; vertical_size, slash_size, vertical_ratio,
// slash_ratio; keep_ratio, seed) plus keep_sink and dense_last_rows. Unknown keys (including
// another policy's) are errors.
std::unique_ptr<SparsityPolicy> parse_sparsity_policy(const config::ConfigReader& r,
                                                      const PolicyResources& resources = {});

}  // namespace seer::core
