#include "experiments/sweep_grid.h"

#include "analysis/run_info.h"

#include <fmt/format.h>

namespace seer::experiments {

std::vector<SweepSetting> expand_sweep_methods(const config::ConfigReader& sweep,
                                               bool allow_gates) {
  const auto methods = sweep.child("methods");
  std::vector<SweepSetting> out;
  const auto names = methods.keys();
  if (names.empty()) sweep.fail("methods", "expected a mapping of method name -> sparsity keys");
  for (const auto& name : names) {
    methods.mark_used(name);
    const YAML::Node node = sweep.tree().at(methods.path_of(name));
    if (!node.IsMap()) methods.fail(name, "expected a mapping of sparsity keys (policy: ...)");
    // Start from one empty combination and multiply by each list-valued key.
    std::vector<std::pair<YAML::Node, std::string>> combos = {{YAML::Node(YAML::NodeType::Map), ""}};
    std::string gates;
    for (const auto& kv : node) {
      const auto key = kv.first.as<std::string>();
      if (key == "gates") {
        if (!allow_gates) {
          methods.fail(name + ".gates", "this stage reads one set of gates (its own `gates` key); "
                                        "per-method gates are read by sweep");
        }
        if (!kv.second.IsScalar() || kv.second.Scalar().empty()) {
          methods.fail(name + ".gates", "expected one gates id (a stage of this run or a folder); "
                                        "to compare gates, give each its own method");
        }
        gates = kv.second.Scalar();
        continue;
      }
      std::vector<std::pair<YAML::Node, std::string>> next;
      const bool list = kv.second.IsSequence();
      if (list && kv.second.size() == 0) {
        methods.fail(name + "." + key, "an empty list gives no cells");
      }
      const size_t n = list ? kv.second.size() : 1;
      for (const auto& [partial, label] : combos) {
        for (size_t i = 0; i < n; ++i) {
          YAML::Node value = list ? kv.second[i] : kv.second;
          YAML::Node copy = YAML::Clone(partial);
          copy[key] = YAML::Clone(value);
          std::string l = label;
          if (list) l += fmt::format(" {}={}", key, value.IsScalar() ? value.Scalar() : "?");
          next.emplace_back(copy, l);
        }
      }
      combos = std::move(next);
    }
    for (auto& [sparsity, label] : combos) {
      out.push_back(SweepSetting{name, name + label, sparsity, gates});
    }
  }
  return out;
}

config::ConfigTree cell_config(const config::ConfigTree& base, const SweepSetting& setting,
                               int64_t context) {
  config::ConfigTree tree = base.clone();
  tree.root()["sparsity"] = YAML::Clone(setting.sparsity);
  tree.drop_sources_below("sparsity");
  tree.set_sources_recursive("sparsity", setting.sparsity,
                             fmt::format("{} (sweep.methods.{})", base.source_of("sweep.methods"),
                                         setting.method));
  if (!tree.root()["eval"] || !tree.root()["eval"].IsMap()) {
    tree.root()["eval"] = YAML::Node(YAML::NodeType::Map);
  }
  tree.root()["eval"]["context"] = context;
  return tree;
}

std::string cell_id(const SweepSetting& setting, int64_t context) {
  std::string id;
  for (char c : setting.label) {
    if (c == ' ') id += '_';
    else if (c == '=') id += '-';
    else if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-') id += c;
    else id += '_';
  }
  return fmt::format("{}_ctx{}", id, context);
}

nlohmann::json setting_json(const SweepSetting& setting, const std::string& policy_name,
                            int64_t block) {
  return {{"method", setting.method},
          {"label", setting.label},
          {"policy", policy_name},
          {"sparsity_config", analysis::yaml_to_json(setting.sparsity)},
          {"block", block}};
}

}  // namespace seer::experiments
