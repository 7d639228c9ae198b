// Perplexity of a token sequence under a Decoder, in windows of `context` tokens (stride =
// context: non-overlapping; stride < context: sliding, each token scored once with up to
// `context` tokens of history, as in transformers' perplexity guide). Within a window, position p
// predicts token p from [begin, p); the first token of the sequence is never scored, nor the first
// token of a non-overlapping window. Each window runs in chunks so the [chunk, V] logits are
// the largest activation.
#pragma once

#include "core/model/decoder.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace seer::core {

struct PerplexityOptions {
  int64_t context = 1024;
  int64_t stride = 0;        // 0 = context
  int64_t chunk_size = 512;  // forward chunk inside a window
  // NaN / Inf in a layer's activations, gate scores or the logits stop the run naming the layer,
  // head, window and chunk (core/model/finite_guard.h; the model's own guard when one is
  // attached). Off: a non-finite window makes the result NaN.
  bool check_finite = true;
  std::string label;         // opens the error message: what runs on which files
};

struct PerplexityResult {
  double nll_sum = 0.0;      // natural log
  int64_t tokens = 0;        // scored tokens
  int64_t windows = 0;
  double ppl() const;
  double mean_nll() const;
};

// `progress(done_windows, total_windows)` is called after each window when given.
PerplexityResult perplexity(Decoder& model, const std::vector<int64_t>& tokens,
                            const PerplexityOptions& opts,
                            const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace seer::core
