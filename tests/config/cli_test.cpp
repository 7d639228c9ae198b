// The seer CLI on the real configs/ folder: list, show, and one-line errors naming the key.
#include "config_test_util.h"
#include "core/config/compose.h"
#include "experiments/cli.h"

#include <filesystem>
#include <map>
#include <string>
#include <vector>

using seer::test::Contains;

namespace {
const std::string kConfigs = std::string(SEER_SOURCE_DIR) + "/configs";
}

TEST_CASE("every shipped experiment composes and validates", "[config]") {
  // Experiments over data the user must give get the shipped LongBench-format fixture here.
  const std::map<std::string, std::vector<std::string>> user_data = {
      {"paper_longbench",
       {"longbench.data_dir=configs/benchmarks/longbench/smoke_fixture",
        "+longbench.datasets=[narrativeqa,passage_retrieval_en,passage_count]"}}};
  const auto names = seer::config::list_group_options(kConfigs, "experiment");
  REQUIRE_FALSE(names.empty());
  for (const auto& name : names) {
    CAPTURE(name);
    std::vector<std::string> args = {"--config-dir", kConfigs, "show", name};
    if (auto it = user_data.find(name); it != user_data.end()) {
      args.insert(args.end(), it->second.begin(), it->second.end());
    }
    CHECK(seer::experiments::run_cli(args) == 0);
  }
}

TEST_CASE("seer list and help succeed", "[config]") {
  CHECK(seer::experiments::run_cli({"--config-dir", kConfigs, "list"}) == 0);
  CHECK(seer::experiments::run_cli({"--help"}) == 0);
  CHECK(seer::experiments::run_cli({"run", "--help"}) == 0);
  CHECK(seer::experiments::run_cli({"stages"}) == 0);
}

TEST_CASE("seer show quickstart a.b=1 names a.b", "[config]") {
  CHECK_THAT(seer::test::config_error_of([] {
               seer::experiments::run_cli({"--config-dir", kConfigs, "show", "quickstart", "a.b=1"});
             }),
             Contains("a.b") && Contains("command line"));
}

TEST_CASE("an override that reaches a bad value by interpolation is named", "[config]") {
  // quickstart's capture.block_size is ${gate.block_size}: the error is the command line's.
  CHECK_THAT(seer::test::config_error_of([] {
               seer::experiments::run_cli(
                   {"--config-dir", kConfigs, "show", "quickstart", "gate.block_size=48"});
             }),
             Contains("command line") && Contains("${gate.block_size}") &&
                 Contains("capture.block_size") && Contains("48"));
}

TEST_CASE("unknown commands and experiments are errors", "[config]") {
  CHECK_THROWS_WITH(seer::experiments::run_cli({"frobnicate"}), Contains("frobnicate"));
  CHECK_THAT(seer::test::config_error_of([] {
               seer::experiments::run_cli({"--config-dir", kConfigs, "show", "nope_experiment"});
             }),
             Contains("nope_experiment"));
}
