#include "experiments/corpus_tokens.h"

namespace seer::experiments {

std::vector<int64_t> corpus_tokens(const std::vector<data::TextDoc>& docs,
                                   const tokenizer::BpeTokenizer& tok, int64_t max_tokens) {
  std::vector<int64_t> out;
  for (const auto& d : docs) {
    if (max_tokens > 0 && static_cast<int64_t>(out.size()) >= max_tokens) break;
    if (!out.empty() && tok.eos_id()) out.push_back(*tok.eos_id());
    std::string text = d.text;
    bool cut = false;
    if (max_tokens > 0) {
      // A long book is tokenised only as far as needed: a prefix of ~12 bytes per missing token,
      // cut at a UTF-8 boundary; the token at the cut may be partial, so it is dropped.
      size_t limit = static_cast<size_t>(max_tokens - static_cast<int64_t>(out.size())) * 12 + 64;
      if (limit < text.size()) {
        while (limit > 0 && (static_cast<unsigned char>(text[limit]) & 0xC0) == 0x80) --limit;
        text.resize(limit);
        cut = true;
      }
    }
    std::vector<int64_t> ids = tok.encode(text, false);
    if (cut && !ids.empty()) ids.pop_back();
    out.insert(out.end(), ids.begin(), ids.end());
  }
  if (max_tokens > 0 && static_cast<int64_t>(out.size()) > max_tokens) out.resize(max_tokens);
  return out;
}

}  // namespace seer::experiments
