// Generation as the benchmark stages run it: the prompt is prefilled under a sparsity policy
// (GatedAttentionHook), then decoding is dense and greedy (the hook is detached after prefill, as
// in the paper's evaluation: SeerAttention sparsifies prefill only). The measured sparsity of the
// prefill comes back with the tokens. Also the model tokenizer seen as a data::TextTokenizer.
#pragma once

#include "core/gate/gate_set.h"
#include "core/model/decoder.h"
#include "core/sparsity/sparsity_policy.h"
#include "core/tokenizer/bpe_tokenizer.h"
#include "data/text_tokenizer.h"

#include <cstdint>
#include <string>
#include <vector>

namespace seer::experiments {

// The model's BPE tokenizer for RULER length targeting and LongBench truncation: no BOS on
// encode, special tokens skipped on decode (as RULER / LongBench call the HF tokenizer).
class ModelTextTokenizer final : public data::TextTokenizer {
 public:
  explicit ModelTextTokenizer(const tokenizer::BpeTokenizer& tok) : tok_(tok) {}
  std::vector<int64_t> encode(const std::string& text) const override {
    return tok_.encode(text, false);
  }
  std::string decode(const std::vector<int64_t>& ids) const override {
    return tok_.decode(ids, true);
  }

 private:
  const tokenizer::BpeTokenizer& tok_;
};

struct SparseGeneration {
  std::vector<int64_t> tokens;   // generated ids (the stop id included when one ended it)
  int64_t kept_blocks = 0;       // prefill blocks computed, over layers and heads
  int64_t causal_blocks = 0;     // causal blocks of the prefill, over layers and heads
  double sparsity = 0.0;         // 1 - kept / causal (0 for dense)
  std::vector<double> layer_sparsity;   // the same per layer, in layer order
  double prefill_seconds = 0.0;
  double seconds = 0.0;
};

struct SparseGenerateOptions {
  int64_t max_new_tokens = 32;
  int64_t chunk_size = 0;              // prefill chunk; 0 = the whole prompt in one forward
  std::vector<int64_t> stop_ids;       // empty = the model's eos ids
  std::string sample;                  // names the sample in errors (non-finite logits)
  // NaN / Inf in the prefill's activations, gate scores or logits, or in a decoding step's
  // logits, stop the run naming the sample, layer and head (core/model/finite_guard.h); off, a
  // NaN row decodes to whatever argmax makes of it.
  bool check_finite = true;
};

// `gates` may be null when the policy needs none; `block` is the mask block size.
SparseGeneration generate_sparse_prefill(core::Decoder& model, const std::vector<int64_t>& prompt,
                                         const core::SparsityPolicy& policy,
                                         const core::GateSet* gates, int64_t block,
                                         const SparseGenerateOptions& opts);

}  // namespace seer::experiments
