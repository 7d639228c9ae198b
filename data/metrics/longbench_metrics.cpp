// Ports of LongBench's metrics.py (see longbench_metrics.h for the quirks and the jieba gap).
#include "data/metrics/longbench_metrics.h"

#include "data/data_error.h"
#include "data/metrics/fuzz_ratio.h"
#include "data/metrics/py_string.h"
#include "data/metrics/rouge_l.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace seer::data {

namespace {

bool is_ascii_punctuation(char32_t c) {   // string.punctuation
  return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
         (c >= 0x7B && c <= 0x7E);
}

const std::u32string& chinese_punctuation() {   // cn_punctuation in normalize_zh_answer
  static const std::u32string p = py::decode(
      "！？｡。＂＃＄％＆＇（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～｟｠｢｣､、〃》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟〰〾〿–—‘’‛“”„‟…‧﹏.");
  return p;
}

// re.sub(r"\b(a|an|the)\b", " ", text) on a str.
std::u32string remove_articles(const std::u32string& t) {
  std::u32string out;
  size_t i = 0;
  while (i < t.size()) {
    const bool boundary_before = i == 0 || !py::is_word_char(t[i - 1]);
    if (boundary_before) {
      size_t matched = 0;
      for (const std::u32string word : {U"a", U"an", U"the"}) {
        // The regex tries the alternatives in order and takes the first that ends at \b.
        if (t.compare(i, word.size(), word) == 0) {
          const size_t end = i + word.size();
          if (end == t.size() || !py::is_word_char(t[end])) {
            matched = word.size();
            break;
          }
        }
      }
      if (matched > 0) {
        out.push_back(U' ');
        i += matched;
        continue;
      }
    }
    out.push_back(t[i++]);
  }
  return out;
}

std::vector<std::string> encode_all(const std::vector<std::u32string>& parts) {
  std::vector<std::string> out;
  out.reserve(parts.size());
  for (const auto& p : parts) out.push_back(py::encode(p));
  return out;
}

bool is_ascii_alnum(char32_t c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// Fraction of the numbers in `prediction` that equal `target` (count_score, retrieval_score).
double number_match_fraction(const std::string& prediction, const std::u32string& target) {
  const auto numbers = py::find_digit_runs(py::decode(prediction));
  if (numbers.empty()) return 0.0;
  int right = 0;
  for (const auto& n : numbers) right += n == target ? 1 : 0;
  return static_cast<double>(right) / static_cast<double>(numbers.size());
}

double retrieval_with_prefix(const std::string& prediction, const std::string& ground_truth,
                             const std::u32string& prefix) {
  // re.findall(prefix + r'(\d+)', ground_truth)[0]
  const std::u32string truth = py::decode(ground_truth);
  size_t pos = 0;
  while ((pos = truth.find(prefix, pos)) != std::u32string::npos) {
    size_t end = pos + prefix.size();
    while (end < truth.size() && py::isdecimal(truth[end])) ++end;
    if (end > pos + prefix.size()) {
      const std::u32string id = truth.substr(pos + prefix.size(), end - pos - prefix.size());
      return number_match_fraction(prediction, id);
    }
    ++pos;
  }
  throw DataError(fmt::format("retrieval score: ground truth '{}' names no '{}<number>'",
                              ground_truth, py::encode(prefix)));
}

}  // namespace

std::string normalize_answer(const std::string& s) {
  std::u32string t = py::lower(py::decode(s));
  std::u32string no_punct;
  for (char32_t c : t) {
    if (!is_ascii_punctuation(c)) no_punct.push_back(c);
  }
  return py::encode(py::join(py::split(remove_articles(no_punct)), U" "));
}

std::string normalize_zh_answer(const std::string& s) {
  const std::u32string& cn = chinese_punctuation();
  std::u32string out;
  for (char32_t c : py::lower(py::decode(s))) {
    if (is_ascii_punctuation(c) || cn.find(c) != std::u32string::npos || py::isspace(c)) continue;
    out.push_back(c);
  }
  return py::encode(out);
}

std::vector<std::string> zh_tokens(const std::string& s) {
  const std::u32string t = py::decode(s);
  std::vector<std::u32string> tokens;
  size_t i = 0;
  while (i < t.size()) {
    size_t j = i + 1;
    if (is_ascii_alnum(t[i])) {
      while (j < t.size() && is_ascii_alnum(t[j])) ++j;
    }
    tokens.emplace_back(t.substr(i, j - i));
    i = j;
  }
  return encode_all(tokens);
}

double token_f1(const std::vector<std::string>& prediction,
                const std::vector<std::string>& ground_truth) {
  std::map<std::string, int> pred_counts, truth_counts;
  for (const auto& t : prediction) ++pred_counts[t];
  for (const auto& t : ground_truth) ++truth_counts[t];
  int same = 0;
  for (const auto& [token, count] : pred_counts) {
    const auto it = truth_counts.find(token);
    if (it != truth_counts.end()) same += std::min(count, it->second);
  }
  if (same == 0) return 0.0;
  const double precision = 1.0 * same / static_cast<double>(prediction.size());
  const double recall = 1.0 * same / static_cast<double>(ground_truth.size());
  return (2 * precision * recall) / (precision + recall);
}

double qa_f1_score(const std::string& prediction, const std::string& ground_truth) {
  const auto p = encode_all(py::split(py::decode(normalize_answer(prediction))));
  const auto g = encode_all(py::split(py::decode(normalize_answer(ground_truth))));
  return token_f1(p, g);
}

double qa_f1_zh_score(const std::string& prediction, const std::string& ground_truth) {
  auto normalized = [](const std::string& text) {
    std::vector<std::string> out;
    for (const auto& token : zh_tokens(text)) {
      std::string n = normalize_zh_answer(token);
      if (!n.empty()) out.push_back(std::move(n));
    }
    return out;
  };
  return token_f1(normalized(prediction), normalized(ground_truth));
}

double rouge_score(const std::string& prediction, const std::string& ground_truth) {
  return rouge_l_f(prediction, ground_truth);
}

double rouge_zh_score(const std::string& prediction, const std::string& ground_truth) {
  auto spaced = [](const std::string& text) {
    std::string out;
    const auto tokens = zh_tokens(text);
    for (size_t i = 0; i < tokens.size(); ++i) out += (i > 0 ? " " : "") + tokens[i];
    return out;
  };
  return rouge_l_f(spaced(prediction), spaced(ground_truth), /*extra_frames=*/1);
}

double classification_score(const std::string& prediction, const std::string& ground_truth,
                            const std::vector<std::string>& all_classes) {
  std::vector<std::string> matches;
  for (const auto& c : all_classes) {
    if (prediction.find(c) != std::string::npos) matches.push_back(c);
  }
  // `for term in list: ... list.remove(term)`: removing shifts the next element into the
  // current slot, which the loop then skips. remove() drops the first equal element.
  for (size_t index = 0; index < matches.size();) {
    const std::string term = matches[index++];
    if (ground_truth.find(term) != std::string::npos && term != ground_truth) {
      matches.erase(std::find(matches.begin(), matches.end(), term));
    }
  }
  if (std::find(matches.begin(), matches.end(), ground_truth) == matches.end()) return 0.0;
  return 1.0 / static_cast<double>(matches.size());
}

double retrieval_score(const std::string& prediction, const std::string& ground_truth) {
  return retrieval_with_prefix(prediction, ground_truth, U"Paragraph ");
}

double retrieval_zh_score(const std::string& prediction, const std::string& ground_truth) {
  return retrieval_with_prefix(prediction, ground_truth, U"段落");
}

double count_score(const std::string& prediction, const std::string& ground_truth) {
  return number_match_fraction(prediction, py::decode(ground_truth));
}

double code_sim_score(const std::string& prediction, const std::string& ground_truth) {
  std::string first_code_line;
  for (const auto& line : py::split(py::lstrip(py::decode(prediction), U'\n'), U'\n')) {
    const std::string l = py::encode(line);
    if (l.find('`') == std::string::npos && l.find('#') == std::string::npos &&
        l.find("//") == std::string::npos) {
      first_code_line = l;
      break;
    }
  }
  return fuzz_ratio(first_code_line, ground_truth) / 100.0;
}

}  // namespace seer::data
