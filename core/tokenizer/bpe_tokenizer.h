// Byte-level BPE tokenizer (GPT-2 / Llama-3 / Qwen2 / SmolLM style) loaded from a Hugging Face
// tokenizer.json or from GGUF metadata (tokenizer.ggml.*). Encoding: added/special tokens are
// split out first (leftmost-longest), the rest is pre-tokenised by regex, mapped to the byte-level
// alphabet and merged by rank. Matches `tokenizers` with add_special_tokens=False.
#pragma once

#include "core/tokenizer/byte_level.h"
#include "core/tokenizer/pretokenizer.h"

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace seer::io {
class GgufFile;
}

namespace seer::tokenizer {

struct AddedToken {
  std::string content;
  int64_t id = 0;
  bool special = false;
};

struct BpeModel {
  std::vector<std::string> id_to_token;            // byte-level strings
  std::vector<std::pair<std::string, std::string>> merges;   // in rank order
  std::vector<AddedToken> added;
  std::vector<std::string> pre_patterns;           // regex steps (see PreTokenizer)
  bool add_prefix_space = false;
  bool ignore_merges = false;                      // Llama-3: a whole piece in the vocab wins
  std::optional<int64_t> bos_id, eos_id;
  bool add_bos = false;                            // default for encode(text)
};

class BpeTokenizer {
 public:
  explicit BpeTokenizer(BpeModel model);
  static BpeTokenizer from_tokenizer_json(const std::string& path);
  static BpeTokenizer from_gguf(const io::GgufFile& gguf);

  std::vector<int64_t> encode(const std::string& text) const { return encode(text, model_.add_bos); }
  std::vector<int64_t> encode(const std::string& text, bool add_bos) const;
  std::string decode(const std::vector<int64_t>& ids, bool skip_special = false) const;

  int64_t vocab_size() const { return static_cast<int64_t>(model_.id_to_token.size()); }
  std::optional<int64_t> bos_id() const { return model_.bos_id; }
  std::optional<int64_t> eos_id() const { return model_.eos_id; }
  std::optional<int64_t> token_to_id(const std::string& token) const;
  const std::string& id_to_token(int64_t id) const;

 private:
  void encode_piece(const std::string& piece, std::vector<int64_t>& out) const;
  void encode_ordinary(const std::string& text, std::vector<int64_t>& out) const;

  BpeModel model_;
  ByteLevel byte_level_;
  PreTokenizer pre_;
  std::unordered_map<std::string, int64_t> vocab_;
  std::unordered_map<std::string, int64_t> merge_rank_;   // "a b" -> rank
  std::unordered_map<std::string, int64_t> added_by_content_;
  std::unordered_map<int64_t, bool> special_ids_;
};

}  // namespace seer::tokenizer
