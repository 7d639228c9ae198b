// Ports of RULER's string_match_all / string_match_part and postprocess_pred.
#include "data/metrics/ruler_metrics.h"

#include "data/data_error.h"
#include "data/metrics/py_string.h"

#include <fmt/format.h>

#include <algorithm>

namespace seer::data {

namespace {

bool found(const std::u32string& lowered_prediction, const std::string& ref) {
  return py::contains(lowered_prediction, py::lower(py::decode(ref)));
}

double mean_percent(const std::vector<std::string>& predictions,
                    const std::vector<std::vector<std::string>>& references,
                    double (*per_sample)(const std::string&, const std::vector<std::string>&)) {
  if (predictions.size() != references.size()) {
    throw DataError(fmt::format("RULER score: {} predictions but {} reference lists",
                                predictions.size(), references.size()));
  }
  if (predictions.empty()) throw DataError("RULER score: no predictions");
  double total = 0.0;
  for (size_t i = 0; i < predictions.size(); ++i) total += per_sample(predictions[i], references[i]);
  return py::round(total / static_cast<double>(predictions.size()) * 100, 2);
}

}  // namespace

std::string ruler_postprocess(const std::string& prediction) {
  std::u32string t = py::strip(py::decode(prediction));
  for (auto& c : t) {
    if (c <= 0x1F) c = U'\n';
  }
  return py::encode(py::strip(t));
}

double ruler_match_all_sample(const std::string& prediction, const std::vector<std::string>& refs) {
  if (refs.empty()) throw DataError("RULER string_match_all: a sample has no references");
  const std::u32string p = py::lower(py::decode(prediction));
  double hits = 0.0;
  for (const auto& r : refs) hits += found(p, r) ? 1.0 : 0.0;
  return hits / static_cast<double>(refs.size());
}

double ruler_match_part_sample(const std::string& prediction, const std::vector<std::string>& refs) {
  if (refs.empty()) throw DataError("RULER string_match_part: a sample has no references");
  const std::u32string p = py::lower(py::decode(prediction));
  return std::any_of(refs.begin(), refs.end(), [&](const std::string& r) { return found(p, r); })
             ? 1.0
             : 0.0;
}

double string_match_all(const std::vector<std::string>& predictions,
                        const std::vector<std::vector<std::string>>& references) {
  return mean_percent(predictions, references, ruler_match_all_sample);
}

double string_match_part(const std::vector<std::string>& predictions,
                         const std::vector<std::vector<std::string>>& references) {
  return mean_percent(predictions, references, ruler_match_part_sample);
}

}  // namespace seer::data
