// Calibrated thresholds: the threshold on a block map (the gate's P or the true G) that makes the
// *measured* sparsity, 1 - kept / causal blocks with the policy's forced blocks (diagonal, sink,
// dense last rows) counted as kept, hit a target on calibration text. One threshold per
// (layer, query head), per layer, or one for the whole model (Granularity). Also the mean share
// of G's mass a calibrated mask keeps per row, a cheap proxy of how close a mask is to the oracle
// at that sparsity.
//
// A threshold keeps the blocks whose score is strictly above it, compared in float32 (as
// CalibratedThresholdPolicy compares), so the kept set on the calibration maps is exactly the one
// counted here. Among the cuts a threshold can make (ties are kept or dropped together), the one
// whose sparsity is closest to the target is chosen, the sparser one on a tie; the threshold sits
// half-way between the last kept and the first dropped score.
#pragma once

#include "core/sparsity/block_mask.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace seer::core {

// kHeadOracle: one threshold per (layer, query head) that keeps in each head as many blocks as
// one global threshold on G keeps there at the target: the oracle's allocation of the budget over
// heads, learned on the calibration text, applied to the gate's scores. (For the oracle source
// it is the global threshold.)
// kHeadMass: one threshold per (layer, query head), with the heads' counts chosen so that the
// G mass the source's ranking keeps is largest at the target (core/sparsity/mass_allocation.h):
// a head whose blocks the gate ranks poorly keeps more of them than the oracle's budget gives it.
enum class Granularity { kHead, kLayer, kGlobal, kHeadOracle, kHeadMass };
// "head" | "layer" | "global" | "head_oracle" | "head_mass"
std::string granularity_name(Granularity g);
// The inverse; throws std::invalid_argument naming the text and the choices.
Granularity parse_granularity(const std::string& name);

// Which map a calibration (and a calibrated policy) thresholds. Matches ScoreSource's meaning.
enum class CalibrationSource { kGate, kOracle };
std::string calibration_source_name(CalibrationSource s);   // "gate" | "oracle"

// One cut of a score list sorted in descending order: keep the first `kept` entries, which is
// what `score > tau` keeps (tau a float32 value).
struct ScoreCut {
  int64_t kept = 0;
  float tau = 0.0f;
};

// The cut of `sorted_desc` (n scores, descending) whose kept count is closest to `want` (a real
// number of blocks; below 0 or above n is clamped), ties in distance to the smaller count.
ScoreCut choose_score_cut(const float* sorted_desc, int64_t n, double want);

struct CalibrationPoint {
  CalibrationSource source = CalibrationSource::kGate;
  Granularity granularity = Granularity::kHead;
  double target = 0.0;                       // sparsity asked for
  std::vector<std::vector<float>> tau;       // [layer][Hq] (per-layer and global repeat the value)
  double achieved = 0.0;                     // measured sparsity on the calibration maps
  std::vector<double> layer_achieved;        // per layer
  double g_mass_kept = 0.0;                  // mean over rows of the kept share of G's row
};

class ThresholdCalibrator {
 public:
  // `rules`: the forced blocks of the policy the thresholds are for (keep_sink, dense_last_rows;
  // the diagonal is always forced).
  explicit ThresholdCalibrator(MaskOptions rules);

  // One layer call: P [B, Hq, nbq, nbk] (undefined when only the oracle is calibrated) and
  // G [B, Hq, nbq, nbk], on any device, with the call's geometry (chunks and padded batches as
  // in the policies). Keeps the causal, unforced entries per (layer, head) in float32.
  void add(int64_t layer, const at::Tensor& p, const at::Tensor& g, const BlockGeometry& geo);

  // Calibrates every target (sparsities in [0, 1]) for one source and granularity. Layers must
  // be 0 .. L-1 without gaps; the gate source needs P in every add().
  std::vector<CalibrationPoint> calibrate(CalibrationSource source, Granularity granularity,
                                          const std::vector<double>& targets) const;

  int64_t num_layers() const { return static_cast<int64_t>(layers_.size()); }
  int64_t heads() const { return heads_; }
  bool has_gate_scores() const { return has_p_; }
  // Measured sparsity of the forced blocks alone (the highest sparsity any threshold reaches).
  double forced_only_sparsity() const;
  // Bytes held by the collected entries.
  int64_t bytes() const;

 private:
  struct Group {              // one (layer, query head)
    std::vector<float> p;     // free entries (causal, not forced): the gate's score
    std::vector<float> g;     // the true G
    std::vector<float> share; // G / (G's row sum over causal blocks): the row's mass in the entry
    int64_t causal = 0;       // causal blocks
    int64_t forced = 0;       // forced blocks (kept whatever the threshold)
    double forced_share = 0;  // summed row shares in forced blocks
    int64_t rows = 0;         // rows with G mass
  };
  const std::vector<Group>& layer(int64_t l) const;

  MaskOptions rules_;
  int64_t heads_ = 0;
  bool has_p_ = true;
  std::map<int64_t, std::vector<Group>> layers_;
};

}  // namespace seer::core
