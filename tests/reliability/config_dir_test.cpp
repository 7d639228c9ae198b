// A configs folder that is not there is refused by name (--config-dir or $SEER_CONFIG_DIR), not
// taken for a folder without experiments.
#include "catch.h"
#include "reliability_test_util.h"

#include <cstdlib>

namespace fs = std::filesystem;

TEST_CASE("--config-dir must name a folder", "[reliability][config]") {
  const auto dir = seer::test::fresh_tmp_dir("config_dir");
  const fs::path missing = dir / "no_configs";
  seer::test::check_refused(
      seer::test::run_seer_command(fmt::format("--config-dir '{}' list", missing.string()), dir),
      {"--config-dir", missing.string(), "no such folder"});
  seer::test::check_refused(
      seer::test::run_seer_command(fmt::format("'--config-dir={}' run eval_ppl", missing.string()),
                                   dir),
      {"--config-dir", missing.string(), "no such folder"});
  seer::test::write_file(dir / "a_file", "");
  seer::test::check_refused(
      seer::test::run_seer_command(
          fmt::format("--config-dir '{}' show quickstart", (dir / "a_file").string()), dir),
      {"--config-dir", "a_file", "not a folder"});
  ::setenv("SEER_CONFIG_DIR", missing.c_str(), 1);
  const auto from_env = seer::test::run_seer_command("list", dir);
  ::unsetenv("SEER_CONFIG_DIR");
  seer::test::check_refused(from_env, {"$SEER_CONFIG_DIR", missing.string(), "no such folder"});
}
