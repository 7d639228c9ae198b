// What every results.json carries so a number can be traced back: the resolved config, the git
// commit of the source tree, libtorch's version, the device and the time.
#pragma once

#include "core/config/config_tree.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

namespace seer::analysis {

nlohmann::json run_info(const config::ConfigTree& config);

// The source tree's commit: $SEER_GIT when set (for a copied tree whose .git is not its own),
// else the short hash, with "-dirty" when tracked files differ from it; "unknown" outside a git
// checkout or without git.
std::string git_commit();

// The command that made a run, from its folder runs/<experiment>/<name>/: "seer run <experiment>"
// and the overrides as typed (the runner's overrides.yaml), each quoted for the shell if needed.
std::string run_command(const std::filesystem::path& run_dir);

// The current UTC time in strftime `format` (default ISO 8601, e.g. 2026-11-26T07:30:00Z).
std::string utc_timestamp(const char* format = "%Y-%m-%dT%H:%M:%SZ");

// The YAML tree as JSON (scalars stay strings unless they parse as numbers or booleans).
nlohmann::json yaml_to_json(const YAML::Node& node);

}  // namespace seer::analysis
