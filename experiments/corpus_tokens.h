// The token stream a stage reads from one split of the `data` section (data_splits.h): the
// split's documents in order, eos between them, its token window (skip_tokens / max_tokens)
// applied, then cut at the stage's `max_tokens`. capture / distill read `train`, the perplexity
// stages `eval`, threshold calibration `calib`; every stage that reads text comes through here, so
// no stage reads a token of another split.
#pragma once

#include "core/config/config_tree.h"
#include "core/tokenizer/bpe_tokenizer.h"

#include <cstdint>
#include <string>
#include <vector>

namespace seer::experiments {

// Checks first that no two splits of `data` overlap (check_data_splits_disjoint: ConfigError
// naming both splits, the file and the token ranges), then returns the first `max_tokens` tokens
// (0 = all) of `split`'s stream. ConfigError when `data` has no such split, DataError naming the
// split when a path is missing. A long document is tokenised only as far as the read needs,
// unless the overlap check already tokenised it.
std::vector<int64_t> split_tokens(const config::ConfigTree& config, const std::string& split,
                                  const tokenizer::BpeTokenizer& tok, int64_t max_tokens);

// DataError when `tokens` tokens read from `split` are fewer than one `window` (a context, a
// sequence length) that `window_key` asks for, naming the split, its paths, the count and the
// window: a score over a few tokens says nothing about the model at that context.
//   data.eval (/data/tiny.txt) has 3 tokens, fewer than one window of 1024 (eval.context)
void require_one_window(const config::ConfigTree& config, const std::string& split, size_t tokens,
                        int64_t window, const std::string& window_key);

}  // namespace seer::experiments
