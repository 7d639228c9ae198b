// Shared by the eval tests that run whole experiments: composing a shipped experiment with
// overrides (as `seer run` does) and where the embedded model lives (tests skip without it).
#pragma once

#include "core/config/compose.h"
#include "experiments/stage_list.h"

#include <filesystem>
#include <string>
#include <vector>

namespace seer::test {

inline std::filesystem::path embedded_model_path() {
  return std::filesystem::path(SEER_SOURCE_DIR) / "assets/models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

inline config::ComposedConfig compose_experiment(const std::string& experiment,
                                                 std::vector<std::string> overrides) {
  experiments::register_builtin_stages();
  config::ComposeRequest req;
  req.config_dir = std::filesystem::path(SEER_SOURCE_DIR) / "configs";
  req.experiment = experiment;
  req.overrides = std::move(overrides);
  return config::compose(req);
}

}  // namespace seer::test
