// RULER's metrics (eval/synthetic/constants.py) and its prediction post-processing.
#pragma once

#include <string>
#include <vector>

namespace seer::data {

// postprocess_pred: strip, control characters (\x00-\x1f) to '\n', strip again.
std::string ruler_postprocess(const std::string& prediction);

// Per sample: fraction of the references found (case-insensitive substring) in the prediction.
double ruler_match_all_sample(const std::string& prediction, const std::vector<std::string>& refs);
// Per sample: 1 when any reference is found.
double ruler_match_part_sample(const std::string& prediction, const std::vector<std::string>& refs);

// Mean over samples x 100, rounded to 2 decimals (string_match_all / string_match_part).
double string_match_all(const std::vector<std::string>& predictions,
                        const std::vector<std::vector<std::string>>& references);
double string_match_part(const std::vector<std::string>& predictions,
                         const std::vector<std::vector<std::string>>& references);

}  // namespace seer::data
