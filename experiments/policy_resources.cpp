#include "experiments/policy_resources.h"

#include "core/config/config_reader.h"
#include "core/config/paths.h"
#include "core/io/atomic_file.h"
#include "experiments/runner.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <stdexcept>

namespace fs = std::filesystem;

namespace seer::experiments {

fs::path threshold_file_path(const fs::path& run_dir, const std::string& stage_or_path) {
  const fs::path from_stage = run_dir / stage_or_path / "thresholds.json";
  if (fs::exists(from_stage)) return from_stage;
  fs::path p = config::resolve_project_path(stage_or_path);
  if (fs::is_directory(p)) p /= "thresholds.json";
  if (fs::exists(p)) return p;
  throw std::runtime_error(fmt::format("no thresholds '{}': neither {} (a calibrate stage of this "
                                       "run, run before this one) nor {} exists", stage_or_path,
                                       from_stage.string(), p.string()));
}

core::PolicyResources policy_resources(const StageContext& ctx, int64_t context) {
  core::PolicyResources r;
  const fs::path run_dir = ctx.run_dir;
  r.threshold_file = [run_dir](const std::string& s) { return threshold_file_path(run_dir, s); };
  r.context = context;
  return r;
}

std::string gates_fingerprint(const fs::path& gates_dir) {
  std::string text;
  for (const char* f : {"gates.json", "gates.safetensors"}) {
    const fs::path p = gates_dir / f;
    text += fmt::format("{}:{}\n", f, fs::exists(p) ? stable_hash(io::read_file(p)) : "absent");
  }
  return stable_hash(text);
}

void check_thresholds_fit_gates(const config::ConfigTree& cell, const core::SparsityPolicy& policy,
                                const std::string& fingerprint, const std::string& gates_id) {
  const auto* cal = dynamic_cast<const core::CalibratedThresholdPolicy*>(&policy);
  if (!cal || !cal->needs_gate() || !cal->table()) return;
  if (cal->table()->gates_fingerprint != fingerprint) {
    config::ConfigReader(cell, "sparsity").fail(
        "thresholds", fmt::format("calibrated for the gates '{}', not for the gates '{}' this "
                                  "method runs with (their files differ)", cal->table()->gates,
                                  gates_id));
  }
}

std::string thresholds_identity(const core::SparsityPolicy& policy) {
  const auto* cal = dynamic_cast<const core::CalibratedThresholdPolicy*>(&policy);
  if (!cal || !cal->table()) return "";
  return stable_hash(nlohmann::json(cal->table()->tau).dump());
}

}  // namespace seer::experiments
