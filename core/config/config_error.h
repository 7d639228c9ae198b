// Errors about configuration: they name the file, the key path, the value and what would be
// accepted, e.g.
//   configs/sparsity/mine.yaml: sparsity.policy = 'top_k': expected threshold | topk
#pragma once

#include <stdexcept>
#include <string>

namespace seer::config {

class ConfigError : public std::runtime_error {
 public:
  ConfigError(const std::string& source, const std::string& key_path, const std::string& value,
              const std::string& problem);
  explicit ConfigError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace seer::config
