#include "core/config/paths.h"

#include <cstdlib>

#ifndef SEER_DEFAULT_ROOT
#define SEER_DEFAULT_ROOT "."
#endif

namespace seer::config {

std::filesystem::path project_root() {
  if (const char* env = std::getenv("SEER_ROOT"); env != nullptr && *env != '\0') {
    return std::filesystem::absolute(env);
  }
  return std::filesystem::path(SEER_DEFAULT_ROOT);
}

std::filesystem::path config_dir() {
  if (const char* env = std::getenv("SEER_CONFIG_DIR"); env != nullptr && *env != '\0') {
    return std::filesystem::absolute(env);
  }
  return project_root() / "configs";
}

std::filesystem::path resolve_project_path(const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_absolute()) return p;
  return project_root() / p;
}

}  // namespace seer::config
