#include "experiments/stage.h"

#include "core/config/config_error.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>

namespace seer::experiments {
namespace {

std::map<std::string, StageFactory>& registry() {
  static std::map<std::string, StageFactory> r;
  return r;
}

}  // namespace

void register_stage(const std::string& name, StageFactory factory) {
  registry()[name] = std::move(factory);
}

std::unique_ptr<Stage> make_stage(const std::string& name) {
  auto it = registry().find(name);
  if (it == registry().end()) {
    std::vector<std::string> names;
    for (const auto& kv : registry()) names.push_back(kv.first);
    throw config::ConfigError(fmt::format("unknown stage '{}'; available: {}", name,
                                          fmt::join(names, ", ")));
  }
  return it->second();
}

std::vector<std::string> registered_stages() {
  std::vector<std::string> names;
  for (const auto& kv : registry()) names.push_back(kv.first);
  return names;
}

}  // namespace seer::experiments
