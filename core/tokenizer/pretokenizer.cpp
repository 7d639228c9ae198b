#define PCRE2_CODE_UNIT_WIDTH 8
#include "core/tokenizer/pretokenizer.h"

#include <fmt/format.h>
#include <pcre2.h>

#include <stdexcept>

namespace seer::tokenizer {

// The patterns as tokenizers' tokenizer.json files spell them.
const char* const kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const char* const kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kDigitsPattern = R"(\p{N})";

struct RegexSplitter::Impl {
  pcre2_code* code = nullptr;
  ~Impl() {
    if (code != nullptr) pcre2_code_free(code);
  }
};

RegexSplitter::RegexSplitter(const std::string& pattern) : pattern_(pattern), impl_(std::make_unique<Impl>()) {
  int err = 0;
  PCRE2_SIZE offset = 0;
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()), pattern.size(),
                              PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &offset, nullptr);
  if (impl_->code == nullptr) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof(msg));
    throw std::invalid_argument(fmt::format("pre-tokenizer regex '{}' does not compile at offset {}: {}",
                                            pattern, offset, reinterpret_cast<const char*>(msg)));
  }
  pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE);  // best effort; interpretation still works
}

RegexSplitter::~RegexSplitter() = default;
RegexSplitter::RegexSplitter(RegexSplitter&&) noexcept = default;
RegexSplitter& RegexSplitter::operator=(RegexSplitter&&) noexcept = default;

void RegexSplitter::split(const std::string& text, std::vector<std::string>& out) const {
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
      pcre2_match_data_create_from_pattern(impl_->code, nullptr), &pcre2_match_data_free);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0, last = 0;
  while (pos <= text.size()) {
    const int rc = pcre2_match(impl_->code, subject, text.size(), pos, 0, md.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof(msg));
      throw std::runtime_error(fmt::format("pre-tokenizer regex failed: {}", reinterpret_cast<const char*>(msg)));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
    const size_t begin = ov[0], end = ov[1];
    if (end == begin) {  // empty match: step one character forward
      pos = begin + 1;
      while (pos < text.size() && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) ++pos;
      continue;
    }
    if (begin > last) out.push_back(text.substr(last, begin - last));
    out.push_back(text.substr(begin, end - begin));
    last = pos = end;
  }
  if (last < text.size()) out.push_back(text.substr(last));
}

PreTokenizer::PreTokenizer(const std::vector<std::string>& patterns) {
  for (const auto& p : patterns) steps_.push_back(std::make_shared<RegexSplitter>(p));
}

std::vector<std::string> PreTokenizer::patterns_for(const std::string& name) {
  if (name == "gpt2" || name == "gpt-2" || name == "default") return {kGpt2Pattern};
  if (name == "smollm") return {kDigitsPattern, kGpt2Pattern};
  if (name == "llama3" || name == "llama-bpe") return {kLlama3Pattern};
  if (name == "qwen2") return {kQwen2Pattern};
  throw std::invalid_argument(fmt::format("pre-tokenizer '{}' is not supported (expected gpt2 | smollm | "
                                          "llama-bpe | llama3 | qwen2)", name));
}

std::vector<std::string> PreTokenizer::split(const std::string& text) const {
  std::vector<std::string> pieces{text};
  for (const auto& step : steps_) {
    std::vector<std::string> next;
    for (const auto& p : pieces) step->split(p, next);
    pieces.swap(next);
  }
  return pieces;
}

}  // namespace seer::tokenizer
