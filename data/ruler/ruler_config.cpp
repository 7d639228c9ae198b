// Parses the `ruler` config section (see ruler_config.h).
#include "data/ruler/ruler_config.h"

#include "core/config/paths.h"

#include <fmt/format.h>

namespace seer::data {

namespace {

std::string optional_path(const config::ConfigReader& r, const std::string& key) {
  const auto value = r.get_optional<std::string>(key);
  if (!value || value->empty()) return "";
  return config::resolve_project_path(*value).string();
}

}  // namespace

RulerSpec parse_ruler_spec(const config::ConfigReader& r) {
  RulerSpec spec;
  spec.tasks = r.get<std::vector<std::string>>("tasks", {});
  spec.lengths = r.get<std::vector<int64_t>>("lengths");
  if (spec.lengths.empty()) r.fail("lengths", "expected at least one length");
  for (int64_t length : spec.lengths) {
    if (length <= 0) r.fail("lengths", fmt::format("{} is not a positive token count", length));
  }
  spec.num_samples = r.get<int64_t>("num_samples", spec.num_samples);
  if (spec.num_samples <= 0) r.fail("num_samples", "expected > 0");
  const int64_t seed = r.get<int64_t>("seed", 42);
  if (seed < 0) r.fail("seed", "expected >= 0");
  spec.seed = static_cast<uint64_t>(seed);
  spec.chat_wrapper = r.get<std::string>("chat_wrapper", spec.chat_wrapper);
  spec.resources.essay_path = optional_path(r, "essay_path");
  spec.resources.squad_path = optional_path(r, "squad_path");
  spec.resources.hotpotqa_path = optional_path(r, "hotpotqa_path");
  spec.tasks_yaml = config::resolve_project_path(
      r.get<std::string>("tasks_yaml", "configs/benchmarks/ruler/tasks.yaml")).string();
  spec.words_dir = config::resolve_project_path(
      r.get<std::string>("words_dir", "configs/benchmarks/ruler/words")).string();
  r.finish();
  return spec;
}

}  // namespace seer::data
