// Reads a split's token stream (see corpus_tokens.h).
#include "experiments/corpus_tokens.h"

#include "data/data_error.h"
#include "experiments/data_splits.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace seer::experiments {
namespace {

constexpr int64_t kToEnd = std::numeric_limits<int64_t>::max();

// The first `n` tokens of `text` without tokenising all of it: a prefix of ~12 bytes per token
// (English prose averages ~4.3 bytes per SmolLM2 token), cut at a UTF-8 boundary, whose last
// token may be a fragment of a word cut in two, so it is dropped. Falls back to the whole text
// when the prefix gives fewer than `n` tokens. `complete` says whether the result is the whole
// text's tokens.
std::vector<int64_t> leading_tokens(const tokenizer::BpeTokenizer& tok, const std::string& text,
                                    int64_t n, bool* complete) {
  size_t limit = static_cast<size_t>(n) * 12 + 64;
  if (limit < text.size()) {
    while (limit > 0 && (static_cast<unsigned char>(text[limit]) & 0xC0) == 0x80) --limit;
    std::vector<int64_t> ids = tok.encode(text.substr(0, limit), false);
    if (!ids.empty()) ids.pop_back();
    if (static_cast<int64_t>(ids.size()) >= n) {
      ids.resize(n);
      *complete = false;
      return ids;
    }
  }
  *complete = true;
  return tok.encode(text, false);
}

// Tokens [begin, end) of the stream of `docs` (eos between documents).
std::vector<int64_t> stream_window(const std::vector<data::TextDoc>& docs, DocTokenCache& cache,
                                   int64_t begin, int64_t end) {
  const auto eos = cache.tokenizer().eos_id();
  std::vector<int64_t> out;
  int64_t pos = 0;
  for (size_t k = 0; k < docs.size() && pos < end; ++k) {
    if (k > 0 && eos) {
      if (pos >= begin) out.push_back(*eos);
      if (++pos >= end) break;
    }
    bool complete = true;
    std::vector<int64_t> partial;
    const std::vector<int64_t>* ids = nullptr;
    if (cache.has(docs[k]) || end == kToEnd) {
      ids = &cache.tokens(docs[k]);
    } else {
      partial = leading_tokens(cache.tokenizer(), docs[k].text, end - pos, &complete);
      ids = &partial;
    }
    const int64_t n = static_cast<int64_t>(ids->size());
    const int64_t lo = std::max<int64_t>(0, begin - pos);
    const int64_t hi = end == kToEnd ? n : std::min<int64_t>(n, end - pos);
    if (lo < hi) out.insert(out.end(), ids->begin() + lo, ids->begin() + hi);
    if (!complete) break;   // the read ends inside this document
    pos += n;
  }
  return out;
}

}  // namespace

std::vector<int64_t> split_tokens(const config::ConfigTree& config, const std::string& split,
                                  const tokenizer::BpeTokenizer& tok, int64_t max_tokens) {
  if (max_tokens < 0) {
    throw std::invalid_argument(fmt::format("split_tokens: max_tokens = {} < 0", max_tokens));
  }
  const data::TextCorpusSpec spec = parse_data_split(config, split);
  DocTokenCache cache(tok);
  check_data_splits_disjoint(config, cache);
  std::vector<data::TextDoc> docs;
  try {
    docs = data::load_text_corpus(spec);
  } catch (const data::DataError& e) {
    throw data::DataError(fmt::format("data.{}: {}", split, e.what()));
  }
  int64_t length = spec.max_tokens > 0 ? spec.max_tokens : kToEnd;
  if (max_tokens > 0) length = std::min(length, max_tokens);
  const int64_t begin = spec.skip_tokens;
  const int64_t end = length == kToEnd ? kToEnd : begin + length;
  auto tokens = stream_window(docs, cache, begin, end);
  // An empty split would score nothing and report a perplexity of null as if it had run.
  if (tokens.empty()) {
    std::vector<std::string> names;
    for (const auto& d : docs) {
      if (names.size() == 5) { names.push_back("..."); break; }
      names.push_back(d.id);
    }
    throw data::DataError(fmt::format(
        "data.{}: no tokens to read ({} document(s): {}; skip_tokens {}): empty files, or "
        "skip_tokens past the end", split, docs.size(), fmt::join(names, ", "), begin));
  }
  return tokens;
}

void require_one_window(const config::ConfigTree& config, const std::string& split, size_t tokens,
                        int64_t window, const std::string& window_key) {
  if (static_cast<int64_t>(tokens) >= window) return;
  const data::TextCorpusSpec spec = parse_data_split(config, split);
  std::string where = fmt::format("{}", fmt::join(spec.paths, ", "));
  if (!spec.include.empty()) where += fmt::format(", include {}", fmt::join(spec.include, ", "));
  if (spec.skip_tokens > 0) where += fmt::format(", skip_tokens {}", spec.skip_tokens);
  if (spec.max_tokens > 0) where += fmt::format(", max_tokens {}", spec.max_tokens);
  throw data::DataError(fmt::format("data.{} ({}) has {} tokens, fewer than one window of {} ({})",
                                    split, where, tokens, window, window_key));
}

}  // namespace seer::experiments
