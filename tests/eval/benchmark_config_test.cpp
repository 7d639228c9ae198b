// Tests the `ruler` and `longbench` config sections: defaults, path resolution and errors.
#include "catch.h"
#include "core/config/config_error.h"
#include "core/config/config_tree.h"
#include "core/config/paths.h"
#include "data/longbench/longbench_config.h"
#include "data/ruler/ruler_config.h"

#include <yaml-cpp/yaml.h>

using namespace seer::data;
using seer::test::Contains;

namespace {

seer::config::ConfigTree tree_of(const std::string& yaml) {
  return seer::config::ConfigTree(YAML::Load(yaml));
}

}  // namespace

TEST_CASE("ruler section: defaults, paths and errors", "[eval][ruler][config]") {
  const auto tree = tree_of("ruler: {lengths: [4096, 8192], essay_path: data/essay.json, squad_path: null}");
  const auto spec = parse_ruler_spec(seer::config::ConfigReader(tree, "ruler"));
  CHECK(spec.lengths == std::vector<int64_t>{4096, 8192});
  CHECK(spec.tasks.empty());
  CHECK(spec.num_samples == 10);
  CHECK(spec.seed == 42);
  CHECK(spec.chat_wrapper == "base");
  CHECK(spec.resources.essay_path == seer::config::resolve_project_path("data/essay.json").string());
  CHECK(spec.resources.squad_path.empty());
  CHECK(spec.tasks_yaml == seer::config::resolve_project_path("configs/benchmarks/ruler/tasks.yaml").string());

  const auto bad_key = tree_of("ruler: {lengths: [4096], sample: 3}");
  CHECK_THROWS_WITH(parse_ruler_spec(seer::config::ConfigReader(bad_key, "ruler")), Contains("sample"));
  const auto bad_len = tree_of("ruler: {lengths: [0]}");
  CHECK_THROWS_WITH(parse_ruler_spec(seer::config::ConfigReader(bad_len, "ruler")), Contains("ruler.lengths"));
  const auto no_len = tree_of("ruler: {num_samples: 3}");
  CHECK_THROWS_AS(parse_ruler_spec(seer::config::ConfigReader(no_len, "ruler")), seer::config::ConfigError);
}

TEST_CASE("longbench section: datasets are checked, files are named", "[eval][longbench][config]") {
  const auto tree = tree_of("longbench: {data_dir: /data/lb, datasets: [qasper, lcc], max_length: 3500}");
  const auto spec = parse_longbench_spec(seer::config::ConfigReader(tree, "longbench"));
  CHECK(spec.datasets == std::vector<std::string>{"qasper", "lcc"});
  CHECK(spec.max_length == 3500);
  CHECK_FALSE(spec.longbench_e);
  CHECK(longbench_file(spec, "qasper") == std::filesystem::path("/data/lb/qasper.jsonl"));
  const auto e = tree_of("longbench: {data_dir: /d, e: true, max_length: 100}");
  const auto e_spec = parse_longbench_spec(seer::config::ConfigReader(e, "longbench"));
  CHECK(e_spec.datasets.size() == 21);
  CHECK(longbench_file(e_spec, "trec") == std::filesystem::path("/d/trec_e.jsonl"));
  const auto bad = tree_of("longbench: {data_dir: /d, datasets: [squad], max_length: 100}");
  CHECK_THROWS_WITH(parse_longbench_spec(seer::config::ConfigReader(bad, "longbench")),
                    Contains("squad") && Contains("qasper"));
}
