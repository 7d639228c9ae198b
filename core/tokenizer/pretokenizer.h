// Pre-tokenisation by a sequence of regexes (PCRE2, UTF-8 + Unicode properties): each step splits
// every piece into its matches and the text between them (tokenizers' "Isolated" behaviour), so
// the pieces always concatenate back to the input. Known patterns by name: gpt2, llama3, qwen2,
// smollm (digits split one by one, then gpt2).
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace seer::tokenizer {

class RegexSplitter {
 public:
  explicit RegexSplitter(const std::string& pattern);
  ~RegexSplitter();
  RegexSplitter(RegexSplitter&&) noexcept;
  RegexSplitter& operator=(RegexSplitter&&) noexcept;

  // Appends to `out` the matches of the pattern in `text` and the non-empty gaps between them.
  void split(const std::string& text, std::vector<std::string>& out) const;
  const std::string& pattern() const { return pattern_; }

 private:
  struct Impl;
  std::string pattern_;
  std::unique_ptr<Impl> impl_;
};

class PreTokenizer {
 public:
  PreTokenizer() = default;
  explicit PreTokenizer(const std::vector<std::string>& patterns);
  // Regex list for a llama.cpp pre-tokenizer name (tokenizer.ggml.pre) or "gpt2"; throws
  // std::invalid_argument listing the known names.
  static std::vector<std::string> patterns_for(const std::string& name);

  std::vector<std::string> split(const std::string& text) const;
  bool empty() const { return steps_.empty(); }

 private:
  std::vector<std::shared_ptr<RegexSplitter>> steps_;
};

extern const char* const kGpt2Pattern;
extern const char* const kLlama3Pattern;
extern const char* const kQwen2Pattern;
extern const char* const kDigitsPattern;

}  // namespace seer::tokenizer
