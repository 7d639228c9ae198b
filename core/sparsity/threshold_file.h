// thresholds.json: the calibrate stage writes it, CalibratedThresholdPolicy reads one entry of it.
// Self-describing: the model, the gates (id and a fingerprint of their files), the block size, the
// forced-block rules the thresholds were calibrated under, and per context length every
// (source, granularity, target) point with its thresholds [layer][head], the sparsity it reached
// on the calibration text (overall and per layer) and the share of G's row mass it kept.
//   {"format": "seer-calibrated-thresholds", "version": 1, "model": ..., "gates": ...,
//    "gates_fingerprint": ..., "block_size": 64, "keep_sink": true, "dense_last_rows": 0,
//    "num_layers": 30, "heads": 9, "targets": [...], "granularities": [...], "sources": [...],
//    "contexts": {"8192": {"windows": 4, ..., "points": [{"source": "gate",
//      "granularity": "head", "target": 0.9, "achieved": 0.9001, "layer_achieved": [...],
//      "g_mass_kept": 0.93, "tau": [[...], ...]}, ...]}}}
#pragma once

#include "core/sparsity/block_mask.h"
#include "core/sparsity/threshold_calibration.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace seer::core {

inline constexpr const char* kThresholdFileFormat = "seer-calibrated-thresholds";

nlohmann::json calibration_point_json(const CalibrationPoint& p);

// One entry of a thresholds.json.
struct ThresholdTable {
  std::vector<std::vector<float>> tau;   // [layer][Hq]
  double calibrated_sparsity = 0.0;      // what it reached on the calibration text
  int64_t context = 0;
  int64_t block_size = 0;
  bool keep_sink = false;
  int64_t dense_last_rows = 0;
  std::string gates;                     // as the calibrate stage named them
  std::string gates_fingerprint;         // "" when calibrated without gates
};

// The entry for `context` (0 = the file's only context), source, granularity and target
// (matched to 1e-9). Throws std::runtime_error naming the file and what it holds when absent.
ThresholdTable load_threshold_table(const std::filesystem::path& file, int64_t context,
                                    CalibrationSource source, Granularity granularity,
                                    double target);

}  // namespace seer::core
