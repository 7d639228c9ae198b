// Port of CPython 3.11 difflib.SequenceMatcher (isjunk=None, autojunk=True): __chain_b,
// find_longest_match and get_matching_blocks, which is all ratio() needs.
#include "data/metrics/fuzz_ratio.h"

#include "data/metrics/py_string.h"

#include <cmath>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace seer::data {

namespace {

class SequenceMatcher {
 public:
  SequenceMatcher(const std::u32string& a, const std::u32string& b) : a_(a), b_(b) {
    for (int j = 0; j < static_cast<int>(b_.size()); ++j) b2j_[b_[j]].push_back(j);
    // autojunk: in a b of 200+ elements, elements more frequent than 1% + 1 are "popular" and
    // do not seed matches (they are not junk, so matches may still extend over them).
    const size_t n = b_.size();
    if (n >= 200) {
      const size_t ntest = n / 100 + 1;
      for (auto it = b2j_.begin(); it != b2j_.end();) {
        it = it->second.size() > ntest ? b2j_.erase(it) : std::next(it);
      }
    }
    j2len_.assign(b_.size() + 1, 0);
    newj2len_.assign(b_.size() + 1, 0);
  }

  // Sum of the sizes of get_matching_blocks(); the order of the queue does not change the sum.
  int64_t matching_characters() {
    int64_t total = 0;
    std::vector<std::tuple<int, int, int, int>> queue = {{0, static_cast<int>(a_.size()), 0,
                                                          static_cast<int>(b_.size())}};
    while (!queue.empty()) {
      const auto [alo, ahi, blo, bhi] = queue.back();
      queue.pop_back();
      const auto [i, j, k] = find_longest_match(alo, ahi, blo, bhi);
      if (k == 0) continue;
      total += k;
      if (alo < i && blo < j) queue.emplace_back(alo, i, blo, j);
      if (i + k < ahi && j + k < bhi) queue.emplace_back(i + k, ahi, j + k, bhi);
    }
    return total;
  }

 private:
  // j2len maps j -> length of the match ending at a[i-1], b[j]; stored shifted by one (index
  // j + 1) so that j - 1 = -1 reads slot 0. Only the slots touched in a row are non-zero.
  std::tuple<int, int, int> find_longest_match(int alo, int ahi, int blo, int bhi) {
    int besti = alo, bestj = blo, bestsize = 0;
    std::vector<int> touched, new_touched;
    for (int i = alo; i < ahi; ++i) {
      new_touched.clear();
      const auto it = b2j_.find(a_[i]);
      if (it != b2j_.end()) {
        for (int j : it->second) {
          if (j < blo) continue;
          if (j >= bhi) break;
          const int k = j2len_[j] + 1;   // j2len.get(j - 1, 0)
          newj2len_[j + 1] = k;
          new_touched.push_back(j + 1);
          if (k > bestsize) besti = i - k + 1, bestj = j - k + 1, bestsize = k;
        }
      }
      for (int slot : touched) j2len_[slot] = 0;
      for (int slot : new_touched) j2len_[slot] = newj2len_[slot], newj2len_[slot] = 0;
      touched.swap(new_touched);
    }
    for (int slot : touched) j2len_[slot] = 0;
    // No junk (isjunk=None), so only the "interesting" extension loops do anything.
    while (besti > alo && bestj > blo && a_[besti - 1] == b_[bestj - 1]) {
      --besti, --bestj, ++bestsize;
    }
    while (besti + bestsize < ahi && bestj + bestsize < bhi &&
           a_[besti + bestsize] == b_[bestj + bestsize]) {
      ++bestsize;
    }
    return {besti, bestj, bestsize};
  }

  const std::u32string& a_;
  const std::u32string& b_;
  std::unordered_map<char32_t, std::vector<int>> b2j_;
  std::vector<int> j2len_, newj2len_;
};

}  // namespace

double sequence_matcher_ratio(const std::u32string& a, const std::u32string& b) {
  const size_t length = a.size() + b.size();
  if (length == 0) return 1.0;
  SequenceMatcher matcher(a, b);
  return 2.0 * static_cast<double>(matcher.matching_characters()) / static_cast<double>(length);
}

int fuzz_ratio(const std::string& a, const std::string& b) {
  if (a == b) return 100;
  if (a.empty() || b.empty()) return 0;
  const double scaled = 100 * sequence_matcher_ratio(py::decode(a), py::decode(b));
  return static_cast<int>(std::nearbyint(scaled));   // round-half-even, as Python's round()
}

}  // namespace seer::data
