// What stages hand the sparsity policies besides their keys (core::PolicyResources): where a
// calibrated policy's thresholds.json is (a calibrate stage of this run, or a path), and the
// context the policy runs at. Also a fingerprint of a gates folder's files, which the calibrate
// stage records and the sweep checks, so thresholds are never applied to gates they were not
// calibrated for.
#pragma once

#include "core/sparsity/sparsity_policy.h"
#include "experiments/stage.h"

#include <cstdint>
#include <filesystem>
#include <string>

namespace seer::experiments {

// `stage_or_path`: a stage id of the run in `run_dir` (its thresholds.json), else a thresholds.json
// or a folder holding one (relative to the project root). Throws std::runtime_error naming both
// places when neither exists.
std::filesystem::path threshold_file_path(const std::filesystem::path& run_dir,
                                          const std::string& stage_or_path);

core::PolicyResources policy_resources(const StageContext& ctx, int64_t context);

// Hash of the contents of gates.json and gates.safetensors in `gates_dir`.
std::string gates_fingerprint(const std::filesystem::path& gates_dir);

// Thresholds calibrated on gate scores hold for those gates only: a ConfigError on the `sparsity`
// section of `cell` (key thresholds) when `policy` is calibrated on gates whose fingerprint is not
// `fingerprint` (the gates named `gates_id` that the method runs with). Oracle thresholds and
// policies of other kinds pass.
void check_thresholds_fit_gates(const config::ConfigTree& cell, const core::SparsityPolicy& policy,
                                const std::string& fingerprint, const std::string& gates_id);

// A hash of a calibrated policy's thresholds ("" for other policies): cells keyed by it re-run
// when the thresholds are recalibrated.
std::string thresholds_identity(const core::SparsityPolicy& policy);

}  // namespace seer::experiments
