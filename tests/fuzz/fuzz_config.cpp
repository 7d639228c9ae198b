// Fuzz target: config composition. The input is an experiment YAML file (with its `defaults:`
// list, `${...}` interpolations, any keys) and, after a separator line, command-line overrides one
// per line; config::compose reads them against a config folder holding that file and one group
// option (model/tiny.yaml), then the tree is printed as `seer show` does. Bad input must throw
// ConfigError (or another std::exception), never crash or hang.
#include "core/config/compose.h"
#include "fuzz_util.h"

#include <exception>
#include <sstream>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto dir = [] {
    auto d = seer::fuzz::scratch_dir("config");
    std::filesystem::create_directories(d / "experiment");
    std::filesystem::create_directories(d / "model");
    seer::fuzz::write_bytes(d / "model" / "tiny.yaml", "name: tiny\nlayers: 2\nrope: {theta: 10000}\n");
    return d;
  }();
  const auto parts = seer::fuzz::split_input(data, size, "\n@@overrides@@\n", 2);
  seer::fuzz::write_bytes(dir / "experiment" / "fuzz.yaml", parts[0]);
  seer::config::ComposeRequest req;
  req.config_dir = dir;
  req.experiment = "fuzz";
  std::istringstream lines(parts[1]);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty()) req.overrides.push_back(line);
  try {
    auto composed = seer::config::compose(req);
    (void)composed.tree.to_yaml();
  } catch (const std::exception&) {
  }
  return 0;
}
