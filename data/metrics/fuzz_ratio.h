// fuzzywuzzy 0.18.0's fuzz.ratio as LongBench's environment runs it: without python-Levenshtein,
// fuzzywuzzy falls back to difflib.SequenceMatcher (LongBench's requirements do not install
// python-Levenshtein), whose "autojunk" heuristic drops characters that make up more than 1% of
// a second string of 200+ characters. The result is NOT the Levenshtein/Indel ratio that
// rapidfuzz returns; the two differ on many pairs.
#pragma once

#include <string>

namespace seer::data {

// difflib.SequenceMatcher(None, a, b).ratio() over code points.
double sequence_matcher_ratio(const std::u32string& a, const std::u32string& b);

// fuzz.ratio(a, b): 100 when equal (even both empty), 0 when one is empty, else
// int(round(100 * ratio)) with Python's half-to-even rounding. Inputs are UTF-8.
int fuzz_ratio(const std::string& a, const std::string& b);

}  // namespace seer::data
