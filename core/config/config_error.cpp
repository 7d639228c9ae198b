#include "core/config/config_error.h"

#include <fmt/format.h>

namespace seer::config {

ConfigError::ConfigError(const std::string& source, const std::string& key_path,
                         const std::string& value, const std::string& problem)
    : std::runtime_error(fmt::format("{}: {} = '{}': {}", source.empty() ? "<config>" : source,
                                     key_path, value, problem)) {}

}  // namespace seer::config
