// The token stream that perplexity stages score: the corpus documents in order, eos between them,
// cut at `max_tokens` (0 = all). Shared by eval_ppl and sweep so both score the same tokens.
#pragma once

#include "core/tokenizer/bpe_tokenizer.h"
#include "data/text_corpus.h"

#include <cstdint>
#include <vector>

namespace seer::experiments {

std::vector<int64_t> corpus_tokens(const std::vector<data::TextDoc>& docs,
                                   const tokenizer::BpeTokenizer& tok, int64_t max_tokens);

}  // namespace seer::experiments
