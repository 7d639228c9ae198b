// The tokenizer as the benchmark code sees it: text to ids and back. The model's BPE tokenizer
// (core/) implements it for real runs; tests use small stand-ins. Length targeting (RULER) and
// middle truncation (LongBench) only need these two calls.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace seer::data {

class TextTokenizer {
 public:
  virtual ~TextTokenizer() = default;
  // Ids of `text` without special tokens (no BOS), as `tokenizer(text).input_ids` minus BOS.
  virtual std::vector<int64_t> encode(const std::string& text) const = 0;
  // Text of `ids`, skipping special tokens (decode(..., skip_special_tokens=True)).
  virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
  // Number of tokens of `text`; override when counting is cheaper than encoding.
  virtual int64_t count(const std::string& text) const {
    return static_cast<int64_t>(encode(text).size());
  }
};

// One token per UTF-8 byte: exact, model-free, for tests and smoke runs without a tokenizer.
class ByteTokenizer final : public TextTokenizer {
 public:
  std::vector<int64_t> encode(const std::string& text) const override {
    return std::vector<int64_t>(text.begin(), text.end());
  }
  std::string decode(const std::vector<int64_t>& ids) const override {
    std::string out;
    out.reserve(ids.size());
    for (int64_t id : ids) out.push_back(static_cast<char>(id));
    return out;
  }
  int64_t count(const std::string& text) const override {
    return static_cast<int64_t>(text.size());
  }
};

}  // namespace seer::data
