// The grid of a `sweep` stage: named methods, each a `sparsity` section whose list-valued keys
// expand into one cell per combination, times the context lengths. Example:
//   sweep:
//     contexts: [1024, 2048]
//     methods:
//       dense: {policy: dense}
//       gate: {policy: topk, keep_ratio: [0.5, 0.2]}
//       streaming: {policy: streaming, sink_blocks: 1, local_blocks: [8, 3]}
// gives 5 settings x 2 contexts = 10 cells, labelled "gate keep_ratio=0.5" and so on.
// Where the stage allows it, a method may name its own gates (`gates: distill_baseline`, one
// scalar, not a sparsity key), so gates of two trainings compare in one grid.
#pragma once

#include "core/config/config_reader.h"
#include "core/config/config_tree.h"

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

namespace seer::experiments {

struct SweepSetting {
  std::string method;     // the key under sweep.methods
  std::string label;      // method plus the expanded values, e.g. "gate keep_ratio=0.5"
  YAML::Node sparsity;    // one scalar value per key: a complete `sparsity` section
  std::string gates;      // the method's own gates ("" = the stage's)
};

// Expands sweep.methods (reader on the `sweep` section). Errors name the method and key; a
// method's `gates` key is an error unless `allow_gates`.
std::vector<SweepSetting> expand_sweep_methods(const config::ConfigReader& sweep,
                                               bool allow_gates = false);

// The config one cell runs with: `base` with `sparsity` replaced by the setting's and
// `eval.context` set, so the cell's saved config.yaml is complete on its own.
config::ConfigTree cell_config(const config::ConfigTree& base, const SweepSetting& setting,
                               int64_t context);

// A file-name-safe id: "gate keep_ratio=0.5" at 1024 -> "gate_keep_ratio-0.5_ctx1024".
std::string cell_id(const SweepSetting& setting, int64_t context);

// What every cell's result.json says of its setting (sweep, eval_ruler, eval_longbench): method,
// label, the policy's name, the sparsity section as JSON and the block size.
nlohmann::json setting_json(const SweepSetting& setting, const std::string& policy_name,
                            int64_t block);

}  // namespace seer::experiments
