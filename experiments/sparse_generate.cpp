#include "experiments/sparse_generate.h"

#include "core/gate/gated_attention_hook.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>

namespace seer::experiments {

SparseGeneration generate_sparse_prefill(core::Decoder& model, const std::vector<int64_t>& prompt,
                                         const core::SparsityPolicy& policy,
                                         const core::GateSet* gates, int64_t block,
                                         const SparseGenerateOptions& opts) {
  TORCH_CHECK(!prompt.empty(), "generate_sparse_prefill: the prompt is empty");
  // Inference mode rather than no-grad: ops skip the autograd and view-tracking dispatch steps
  // and version counters, less host time per op, which is what a decoding step is made of.
  c10::InferenceMode inference;
  const auto t0 = std::chrono::steady_clock::now();
  core::GatedAttentionHook hook(policy.needs_gate() ? gates : nullptr, &policy, block);
  core::KVCache cache = model.new_cache();
  const int64_t S = static_cast<int64_t>(prompt.size());
  const int64_t chunk = opts.chunk_size > 0 ? opts.chunk_size : S;
  at::Tensor logits;
  {
    core::ScopedAttentionHook attached(model, &hook);
    logits = model.prefill(at::tensor(prompt, at::kLong).unsqueeze(0), cache, chunk);
  }
  SparseGeneration out;
  out.prefill_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out.kept_blocks = hook.stats().kept_blocks();
  out.causal_blocks = hook.stats().causal_blocks();
  out.sparsity = hook.stats().overall();
  for (const int64_t layer : hook.stats().layers()) out.layer_sparsity.push_back(hook.stats().layer(layer));

  const auto& stops = opts.stop_ids.empty() ? model.config().eos_token_ids : opts.stop_ids;
  for (int64_t step = 0; step < opts.max_new_tokens; ++step) {
    const int64_t next = logits.argmax(-1).item<int64_t>();
    out.tokens.push_back(next);
    if (std::find(stops.begin(), stops.end(), next) != stops.end()) break;
    if (step + 1 == opts.max_new_tokens) break;
    // A host tensor: forward checks the id on the host and copies it over with the step.
    logits = model.forward(at::tensor({next}, at::kLong).view({1, 1}), cache, core::LogitsMode::kLast);
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace seer::experiments
