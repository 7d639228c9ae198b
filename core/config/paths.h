// Where the project's files live. Relative paths in configs (assets/..., runs/...) are resolved
// against the project root: $SEER_ROOT when set, else the source tree `seer` was built from.
#pragma once

#include <filesystem>
#include <string>

namespace seer::config {

std::filesystem::path project_root();
std::filesystem::path config_dir();   // $SEER_CONFIG_DIR or <root>/configs
// Absolute paths are returned unchanged; relative ones are taken against project_root().
std::filesystem::path resolve_project_path(const std::string& path);

}  // namespace seer::config
