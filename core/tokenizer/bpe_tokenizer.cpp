#include "core/tokenizer/bpe_tokenizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace seer::tokenizer {

BpeTokenizer::BpeTokenizer(BpeModel model) : model_(std::move(model)), pre_(model_.pre_patterns) {
  for (size_t i = 0; i < model_.id_to_token.size(); ++i) vocab_.emplace(model_.id_to_token[i], i);
  for (size_t r = 0; r < model_.merges.size(); ++r) {
    merge_rank_.emplace(model_.merges[r].first + " " + model_.merges[r].second, r);
  }
  for (const auto& a : model_.added) {
    added_by_content_[a.content] = a.id;
    special_ids_[a.id] = a.special;
    if (a.id >= vocab_size()) model_.id_to_token.resize(a.id + 1);
    if (model_.id_to_token[a.id].empty()) model_.id_to_token[a.id] = a.content;
  }
  // Longest first, so leftmost-longest matching takes the first hit at a position.
  std::sort(model_.added.begin(), model_.added.end(),
            [](const AddedToken& a, const AddedToken& b) { return a.content.size() > b.content.size(); });
}

std::optional<int64_t> BpeTokenizer::token_to_id(const std::string& token) const {
  auto it = added_by_content_.find(token);
  if (it != added_by_content_.end()) return it->second;
  auto jt = vocab_.find(token);
  if (jt == vocab_.end()) return std::nullopt;
  return jt->second;
}

const std::string& BpeTokenizer::id_to_token(int64_t id) const {
  if (id < 0 || id >= vocab_size()) {
    throw std::out_of_range(fmt::format("token id {} is outside the vocabulary [0, {})", id, vocab_size()));
  }
  return model_.id_to_token[id];
}

void BpeTokenizer::encode_piece(const std::string& piece, std::vector<int64_t>& out) const {
  const std::string mapped = byte_level_.encode(piece);
  if (model_.ignore_merges) {
    auto it = vocab_.find(mapped);
    if (it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  std::vector<std::string> symbols;   // one byte-level character each, to start
  for (size_t i = 0; i < mapped.size();) {
    const int n = utf8_char_length(static_cast<unsigned char>(mapped[i]));
    symbols.push_back(mapped.substr(i, n));
    i += n;
  }
  // Merge the lowest-ranked adjacent pair until none is in the merge table. Pieces are short
  // (a word or a whitespace run), so the quadratic scan costs less than a heap here.
  while (symbols.size() > 1) {
    int64_t best_rank = std::numeric_limits<int64_t>::max();
    size_t best = 0;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      auto it = merge_rank_.find(symbols[i] + " " + symbols[i + 1]);
      if (it != merge_rank_.end() && it->second < best_rank) {
        best_rank = it->second;
        best = i;
      }
    }
    if (best_rank == std::numeric_limits<int64_t>::max()) break;
    // Merge every non-overlapping occurrence of this pair, left to right, as tokenizers does.
    const std::string a = symbols[best], b = symbols[best + 1];
    std::vector<std::string> merged;
    merged.reserve(symbols.size());
    for (size_t i = 0; i < symbols.size();) {
      if (i + 1 < symbols.size() && symbols[i] == a && symbols[i + 1] == b) {
        merged.push_back(a + b);
        i += 2;
      } else {
        merged.push_back(symbols[i]);
        i += 1;
      }
    }
    symbols.swap(merged);
  }
  for (const auto& s : symbols) {
    auto it = vocab_.find(s);
    if (it == vocab_.end()) {
      throw std::runtime_error(fmt::format("BPE symbol '{}' is not in the vocabulary (piece '{}')", s, piece));
    }
    out.push_back(it->second);
  }
}

void BpeTokenizer::encode_ordinary(const std::string& text, std::vector<int64_t>& out) const {
  if (text.empty()) return;
  std::string t = text;
  if (model_.add_prefix_space && t[0] != ' ') t = " " + t;
  for (const auto& piece : pre_.split(t)) encode_piece(piece, out);
}

std::vector<int64_t> BpeTokenizer::encode(const std::string& text, bool add_bos) const {
  std::vector<int64_t> out;
  if (add_bos && model_.bos_id) out.push_back(*model_.bos_id);
  size_t start = 0, pos = 0;
  while (pos < text.size()) {
    const AddedToken* hit = nullptr;
    for (const auto& a : model_.added) {   // sorted longest first
      if (!a.content.empty() && text.compare(pos, a.content.size(), a.content) == 0) {
        hit = &a;
        break;
      }
    }
    if (hit == nullptr) {
      ++pos;
      continue;
    }
    encode_ordinary(text.substr(start, pos - start), out);
    out.push_back(hit->id);
    pos += hit->content.size();
    start = pos;
  }
  encode_ordinary(text.substr(start), out);
  return out;
}

std::string BpeTokenizer::decode(const std::vector<int64_t>& ids, bool skip_special) const {
  std::string out, pending;   // pending: byte-level symbols not yet turned into bytes
  for (int64_t id : ids) {
    auto sp = special_ids_.find(id);
    if (sp != special_ids_.end()) {
      if (sp->second && skip_special) continue;
      out += byte_level_.decode(pending);
      pending.clear();
      out += id_to_token(id);
      continue;
    }
    pending += id_to_token(id);
  }
  out += byte_level_.decode(pending);
  return out;
}

}  // namespace seer::tokenizer
