// Port of rouge 1.0.1's rouge_l_summary_level as LongBench calls it (see rouge_l.h).
#include "data/metrics/rouge_l.h"

#include "data/metrics/py_string.h"

#include <set>
#include <unordered_map>
#include <vector>

namespace seer::data {

namespace {

using Sentence = std::vector<int>;   // word ids

// Word ids so that the LCS compares ints; equal words get equal ids.
class WordIds {
 public:
  int id(const std::u32string& w) {
    auto [it, inserted] = ids_.emplace(w, static_cast<int>(ids_.size()));
    return it->second;
  }

 private:
  std::unordered_map<std::u32string, int> ids_;
};

// [" ".join(s.split()) for s in text.split(".") if len(s) > 0], each then split(" ").
std::vector<Sentence> sentences_of(const std::string& text, WordIds& ids) {
  std::vector<Sentence> out;
  for (const auto& piece : py::split(py::decode(text), U'.')) {
    if (piece.empty()) continue;
    const std::u32string collapsed = py::join(py::split(piece), U" ");
    Sentence words;
    for (const auto& w : py::split(collapsed, U' ')) words.push_back(ids.id(w));
    out.push_back(std::move(words));
  }
  return out;
}

// Adds the words of the package's LCS reconstruction of (x = reference, y = prediction) to
// `union_words`. Returns the recursion depth `_recon` reached (calls on the deepest path).
int add_recon_lcs(const Sentence& x, const Sentence& y, std::set<int>& union_words) {
  const size_t n = x.size(), m = y.size();
  std::vector<std::vector<int>> table(n + 1, std::vector<int>(m + 1, 0));
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      table[i][j] = x[i - 1] == y[j - 1] ? table[i - 1][j - 1] + 1
                                         : std::max(table[i - 1][j], table[i][j - 1]);
    }
  }
  size_t i = n, j = m;
  int depth = 1;
  while (i > 0 && j > 0) {
    if (x[i - 1] == y[j - 1]) {
      union_words.insert(x[i - 1]);
      --i, --j;
    } else if (table[i - 1][j] > table[i][j - 1]) {
      --i;
    } else {
      --j;
    }
    ++depth;
  }
  return depth;
}

}  // namespace

double rouge_l_f(const std::string& prediction, const std::string& reference, int extra_frames) {
  WordIds ids;
  const auto hyp = sentences_of(prediction, ids);
  const auto ref = sentences_of(reference, ids);
  if (hyp.empty() || ref.empty()) return 0.0;   // ValueError in the package

  std::set<int> ref_words, hyp_words;
  for (const auto& s : ref) ref_words.insert(s.begin(), s.end());
  for (const auto& s : hyp) hyp_words.insert(s.begin(), s.end());
  const double m = static_cast<double>(ref_words.size());
  const double n = static_cast<double>(hyp_words.size());

  // The union carries across reference sentences, so the summed increments are its final size.
  std::set<int> union_words;
  for (const auto& r : ref) {
    for (const auto& h : hyp) {
      if (add_recon_lcs(r, h, union_words) > kRougeMaxReconDepth - extra_frames) {
        return 0.0;   // RecursionError in the package, swallowed by LongBench
      }
    }
  }
  const double llcs = static_cast<double>(union_words.size());
  const double r_lcs = llcs / m;
  const double p_lcs = llcs / n;
  return 2.0 * ((p_lcs * r_lcs) / (p_lcs + r_lcs + 1e-8));
}

}  // namespace seer::data
