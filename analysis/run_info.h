// What every results.json carries so a number can be traced back: the resolved config, the git
// commit of the source tree, libtorch's version, the device and the time.
#pragma once

#include "core/config/config_tree.h"

#include <nlohmann/json.hpp>

namespace seer::analysis {

nlohmann::json run_info(const config::ConfigTree& config);

// The YAML tree as JSON (scalars stay strings unless they parse as numbers or booleans).
nlohmann::json yaml_to_json(const YAML::Node& node);

}  // namespace seer::analysis
