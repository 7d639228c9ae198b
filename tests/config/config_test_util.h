// Helpers for the config tests: compose a fixture experiment and assert on error messages.
#pragma once

#include "catch.h"
#include "core/config/compose.h"
#include "core/config/config_error.h"

#include <filesystem>
#include <string>
#include <vector>

namespace seer::test {

inline std::filesystem::path fixture_configs() {
  return std::filesystem::path(SEER_SOURCE_DIR) / "tests" / "config" / "fixtures";
}

inline config::ComposedConfig compose_fixture(const std::string& experiment,
                                              const std::vector<std::string>& overrides = {}) {
  config::ComposeRequest req;
  req.config_dir = fixture_configs();
  req.experiment = experiment;
  req.overrides = overrides;
  return config::compose(req);
}

// The message of the ConfigError thrown by `fn`; fails the test if none is thrown.
template <typename Fn>
std::string config_error_of(Fn&& fn) {
  try {
    fn();
  } catch (const config::ConfigError& e) {
    return e.what();
  }
  FAIL("expected a ConfigError");
  return "";
}

}  // namespace seer::test
