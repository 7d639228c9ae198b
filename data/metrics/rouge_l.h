// ROUGE-L F as LongBench computes it: `Rouge().get_scores([pred], [ref], avg=True)["rouge-l"]["f"]`
// from the PyPI package `rouge` 1.0.1 (summary-level LCS, exclusive=True), with its quirks kept:
//  - sentences are the pieces of text.split(".") that are non-empty; each is whitespace-collapsed
//    and split on " ", so a blank piece contributes the empty word "";
//  - m and n count DISTINCT words of reference and prediction; the union LCS is a set of words;
//  - LCS reconstruction breaks ties the package's way (up only when strictly better);
//  - no sentence on either side raises in the package; LongBench's bare `except` makes it 0;
//  - the reconstruction recurses once per step, so a path longer than Python's recursion limit
//    raises RecursionError, which LongBench also turns into 0 (see kRougeMaxReconDepth).
#pragma once

#include <string>

namespace seer::data {

// Python's default recursion limit (1000) minus the frames LongBench's eval.py has on the stack
// when `_recon` first runs (module, scorer, rouge_score, get_scores, _get_avg_scores, lambda,
// rouge_l_summary_level, _union_lcs, _recon_lcs). rouge_zh_score adds one frame.
constexpr int kRougeMaxReconDepth = 991;

// `extra_frames`: frames above the plain rouge_score call (1 for rouge_zh_score).
double rouge_l_f(const std::string& prediction, const std::string& reference, int extra_frames = 0);

}  // namespace seer::data
