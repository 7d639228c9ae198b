// Which window of a token stream online distillation reads as its c-th sample: a pure function of
// (seed, c), so a resumed run reads exactly what an uninterrupted one would, with no state to save.
//
// Streaming (cap 0): epoch 0 cuts the stream into windows of `length` at offset 0 and visits all
// of them once in a seeded order; epoch e > 0 shifts the window grid by a seeded offset in
// [1, length) and visits all windows of that grid, so later epochs read windows that straddle the
// earlier ones' boundaries instead of repeating them. The only epoch limit is the data.
// Capped (cap > 0): the first `cap` windows at offset 0 in the order of
// core::distill_sample_index (what offline distillation reads from a capture of those windows).
#pragma once

#include <cstdint>

namespace seer::data {

class TokenWindowSchedule {
 public:
  // num_tokens tokens in the stream; DataError when it holds no whole window.
  TokenWindowSchedule(int64_t num_tokens, int64_t length, int64_t seed, int64_t cap = 0);

  // First token of the c-th sample's window.
  int64_t start(int64_t counter) const;

  // Grid offset of `epoch` (0 for epoch 0 and when capped) and its number of windows.
  int64_t offset(int64_t epoch) const;
  int64_t windows(int64_t epoch) const;
  int64_t length() const { return length_; }

 private:
  int64_t num_tokens_;
  int64_t length_;
  int64_t seed_;
  int64_t cap_;
};

}  // namespace seer::data
