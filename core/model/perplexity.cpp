#include "core/model/perplexity.h"

#include "core/model/finite_guard.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

namespace seer::core {

double PerplexityResult::mean_nll() const { return tokens > 0 ? nll_sum / tokens : NAN; }
double PerplexityResult::ppl() const { return std::exp(mean_nll()); }

PerplexityResult perplexity(Decoder& model, const std::vector<int64_t>& tokens,
                            const PerplexityOptions& opts,
                            const std::function<void(int64_t, int64_t)>& progress) {
  const int64_t context = opts.context;
  const int64_t stride = opts.stride > 0 ? opts.stride : context;
  if (context < 2) throw std::invalid_argument(fmt::format("perplexity: context = {} must be >= 2", context));
  if (stride > context) {
    throw std::invalid_argument(fmt::format("perplexity: stride = {} must be <= context = {}", stride, context));
  }
  if (opts.chunk_size <= 0) throw std::invalid_argument("perplexity: chunk_size must be positive");
  const int64_t N = static_cast<int64_t>(tokens.size());
  at::Tensor all = at::tensor(tokens, at::kLong);

  std::vector<std::pair<int64_t, int64_t>> windows;   // [begin, end)
  for (int64_t begin = 0; begin < N; begin += stride) {
    const int64_t end = std::min(begin + context, N);
    if (end - begin >= 2) windows.emplace_back(begin, end);
    if (end == N) break;
  }

  PerplexityResult res;
  // The caller's guard when it attached one, else this call's own while check_finite is on.
  FiniteGuard own_guard(opts.label.empty() ? std::string("perplexity") : opts.label);
  FiniteGuard* guard = model.finite_guard();
  if (opts.check_finite && guard == nullptr) guard = &own_guard;
  ScopedFiniteGuard attached(model, guard);
  int64_t prev_end = 0;
  for (const auto& [begin, end] : windows) {
    const int64_t first_scored = std::max(begin + 1, prev_end);   // absolute position
    if (guard) guard->set_window(fmt::format("window of tokens [{}, {})", begin, end));
    KVCache cache = model.new_cache();
    if (model.attention_hook() != nullptr) model.attention_hook()->begin_sequence();
    for (int64_t s = begin; s < end; s += opts.chunk_size) {
      const int64_t len = std::min(opts.chunk_size, end - s);
      // Chunk positions [s, s+len) predict tokens [s+1, s+len+1); keep those in [first_scored, end).
      const int64_t pred_lo = std::max(s + 1, first_scored), pred_hi = std::min(s + len + 1, end);
      const bool needed = pred_hi > pred_lo;
      at::Tensor logits = model.forward(all.narrow(0, s, len).unsqueeze(0), cache,
                                        needed ? LogitsMode::kAll : LogitsMode::kNone);
      if (!needed) continue;
      at::Tensor rows = logits[0].narrow(0, pred_lo - 1 - s, pred_hi - pred_lo);   // [n, V] float32
      at::Tensor targets = all.narrow(0, pred_lo, pred_hi - pred_lo).to(rows.device());
      at::Tensor nll = at::logsumexp(rows, -1) - rows.gather(1, targets.unsqueeze(1)).squeeze(1);
      const double chunk_nll = nll.to(at::kDouble).sum().item<double>();
      res.nll_sum += chunk_nll;
      res.tokens += pred_hi - pred_lo;
    }
    prev_end = end;
    ++res.windows;
    if (progress) progress(res.windows, static_cast<int64_t>(windows.size()));
  }
  return res;
}

}  // namespace seer::core
