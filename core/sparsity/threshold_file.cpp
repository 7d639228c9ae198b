#include "core/sparsity/threshold_file.h"

#include "core/io/atomic_file.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <stdexcept>

namespace seer::core {

nlohmann::json calibration_point_json(const CalibrationPoint& p) {
  return {{"source", calibration_source_name(p.source)},
          {"granularity", granularity_name(p.granularity)},
          {"target", p.target},
          {"achieved", p.achieved},
          {"layer_achieved", p.layer_achieved},
          {"g_mass_kept", p.g_mass_kept},
          {"tau", p.tau}};
}

ThresholdTable load_threshold_table(const std::filesystem::path& file, int64_t context,
                                    CalibrationSource source, Granularity granularity,
                                    double target) {
  const std::string where = file.string();
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(io::read_file(file));
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(fmt::format("{}: not valid JSON: {}", where, e.what()));
  }
  if (doc.value("format", "") != kThresholdFileFormat)
    throw std::runtime_error(fmt::format("{}: not a thresholds file (format '{}', expected '{}')",
                                         where, doc.value("format", ""), kThresholdFileFormat));
  try {
    const auto& contexts = doc.at("contexts");
    std::vector<std::string> have;
    for (const auto& [k, v] : contexts.items()) have.push_back(k);
    std::string key = std::to_string(context);
    if (context == 0) {
      if (have.size() != 1)
        throw std::runtime_error(fmt::format("{}: calibrated at contexts [{}]; say which one",
                                             where, fmt::join(have, ", ")));
      key = have.front();
    }
    if (!contexts.contains(key))
      throw std::runtime_error(fmt::format("{}: no calibration at context {} (it has [{}])", where,
                                           key, fmt::join(have, ", ")));
    const auto& ctx = contexts.at(key);
    const std::string src = calibration_source_name(source), gran = granularity_name(granularity);
    std::vector<std::string> points;
    for (const auto& p : ctx.at("points")) {
      const double t = p.at("target").get<double>();
      if (p.at("source") == src && p.at("granularity") == gran && std::abs(t - target) < 1e-9) {
        ThresholdTable table;
        table.tau = p.at("tau").get<std::vector<std::vector<float>>>();
        table.calibrated_sparsity = p.at("achieved").get<double>();
        table.context = std::stoll(key);
        table.block_size = doc.at("block_size").get<int64_t>();
        table.keep_sink = doc.at("keep_sink").get<bool>();
        table.dense_last_rows = doc.at("dense_last_rows").get<int64_t>();
        table.gates = doc.value("gates", "");
        table.gates_fingerprint = doc.value("gates_fingerprint", "");
        return table;
      }
      points.push_back(fmt::format("{}/{}/{}", p.at("source").get<std::string>(),
                                   p.at("granularity").get<std::string>(), t));
    }
    throw std::runtime_error(fmt::format("{}: no {} thresholds at granularity {} for target "
                                         "sparsity {} at context {} (it has {})", where, src, gran,
                                         target, key, fmt::join(points, ", ")));
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(fmt::format("{}: malformed thresholds file: {}", where, e.what()));
  }
}

}  // namespace seer::core
