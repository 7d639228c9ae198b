#include "experiments/sparse_generate.h"

#include "core/gate/gated_attention_hook.h"
#include "core/model/finite_guard.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>

namespace seer::experiments {
namespace {

// The greedy next id, and whether every logit is finite, in one device -> host copy. argmax ranks
// NaN above every number, so without the check a NaN row would decode to a plausible token id and
// a silently wrong score.
int64_t next_token_checked(const at::Tensor& logits, int64_t step, const std::string& sample,
                           bool check) {
  if (!check) return logits.argmax(-1).reshape({}).item<int64_t>();
  const auto both = at::stack({logits.argmax(-1).reshape({}).to(at::kLong),
                               at::isfinite(logits).all().to(at::kLong)})
                        .cpu();
  const int64_t* v = both.data_ptr<int64_t>();
  if (v[1] == 0) {
    const int64_t bad = at::logical_not(at::isfinite(logits)).sum().item<int64_t>();
    throw core::NonFiniteError(fmt::format(
        "{}: non-finite logits {}: {} of {} values are NaN or Inf (a bad weight, an overflowing "
        "activation or a row whose mask kept no block)",
        sample.empty() ? "generation" : sample,
        step == 0 ? std::string("after the prefill") : fmt::format("at decode step {}", step), bad,
        logits.numel()));
  }
  return v[0];
}

}  // namespace

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
    // The prefill is checked layer by layer (one copy per chunk); decoding steps, whose logits
    // next_token_checked reads anyway, only at their logits.
    core::FiniteGuard guard(opts.sample.empty() ? std::string("generation") : opts.sample);
    guard.set_window("the prefill");
    core::ScopedFiniteGuard guarded(model, opts.check_finite ? &guard : nullptr);
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
    const int64_t next = next_token_checked(logits, step, opts.sample, opts.check_finite);
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
