// Parses the `longbench` config section (see longbench_config.h).
#include "data/longbench/longbench_config.h"

#include "core/config/paths.h"
#include "data/metrics/longbench_scorer.h"

#include <fmt/format.h>

#include <algorithm>

namespace seer::data {

LongBenchSpec parse_longbench_spec(const config::ConfigReader& r) {
  LongBenchSpec spec;
  spec.data_dir = config::resolve_project_path(r.get<std::string>("data_dir")).string();
  const auto known = longbench_datasets();
  spec.datasets = r.get<std::vector<std::string>>("datasets", known);
  if (spec.datasets.empty()) r.fail("datasets", "expected at least one dataset");
  for (const auto& d : spec.datasets) {
    if (std::find(known.begin(), known.end(), d) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : " | ") + k;
      r.fail("datasets", fmt::format("'{}' is not a LongBench dataset; expected {}", d, list));
    }
  }
  spec.longbench_e = r.get<bool>("e", false);
  spec.max_length = r.get<int64_t>("max_length");
  if (spec.max_length <= 0) r.fail("max_length", "expected a positive token count");
  spec.max_samples = r.get<int64_t>("max_samples", 0);
  if (spec.max_samples < 0) r.fail("max_samples", "expected >= 0 (0 = all)");
  spec.definitions_dir = config::resolve_project_path(
      r.get<std::string>("definitions_dir", "configs/benchmarks/longbench")).string();
  r.finish();
  return spec;
}

std::filesystem::path longbench_file(const LongBenchSpec& spec, const std::string& dataset) {
  return std::filesystem::path(spec.data_dir) / (dataset + (spec.longbench_e ? "_e" : "") + ".jsonl");
}

}  // namespace seer::data
