#include "core/model/finite_guard.h"

#include "core/model/decoder.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <utility>

namespace seer::core {

at::Tensor finite_along(const at::Tensor& t, int64_t dim) {
  if (dim < 0) return at::isfinite(at::sum(t, at::kFloat)).reshape({1});
  std::vector<int64_t> others;
  for (int64_t d = 0; d < t.dim(); ++d)
    if (d != dim) others.push_back(d);
  if (others.empty()) return at::isfinite(t);
  return at::isfinite(at::sum(t, others, /*keepdim=*/false, at::kFloat));
}

void FiniteGuard::note(int64_t layer, const char* what, const at::Tensor& t, int64_t head_dim) {
  if (!t.defined() || t.numel() == 0) return;
  notes_.push_back({layer, what, head_dim >= 0, finite_along(t, head_dim)});
}

void FiniteGuard::check(const std::string& chunk) {
  if (notes_.empty()) return;
  std::vector<Note> notes;
  notes.swap(notes_);
  std::vector<at::Tensor> flags;
  flags.reserve(notes.size());
  for (const auto& n : notes) flags.push_back(n.flags.to(notes.front().flags.device()));
  const at::Tensor host = at::cat(flags).to(at::kCPU);
  const bool* f = host.data_ptr<bool>();
  int64_t at_flag = 0;
  for (const auto& n : notes) {
    const int64_t count = n.flags.numel();
    int64_t first_bad = -1, bad = 0;
    for (int64_t i = 0; i < count; ++i)
      if (!f[at_flag + i]) {
        if (first_bad < 0) first_bad = i;
        ++bad;
      }
    at_flag += count;
    if (first_bad < 0) continue;
    std::string where = n.layer >= 0 ? fmt::format("layer {}", n.layer) : std::string();
    if (n.per_head)
      where += fmt::format("{}head {} ({} of {} heads non-finite)", where.empty() ? "" : ", ",
                           first_bad, bad, count);
    where += fmt::format("{}{}", where.empty() ? "" : ": ", n.what);
    std::string context;
    for (const std::string* part : {&std::as_const(scope_), &std::as_const(window_), &chunk})
      if (!part->empty()) context += (context.empty() ? "" : ", ") + *part;
    throw NonFiniteError(fmt::format(
        "{}{}non-finite values (NaN or Inf) first in {} (a bad weight, an overflowing "
        "activation or an attention row whose mask kept no block; check_finite: false runs on "
        "regardless)", context, context.empty() ? "" : ": ", where));
  }
}

ScopedFiniteGuard::ScopedFiniteGuard(Decoder& model, FiniteGuard* guard)
    : model_(model), previous_(model.finite_guard()) {
  model_.set_finite_guard(guard);
}

ScopedFiniteGuard::~ScopedFiniteGuard() { model_.set_finite_guard(previous_); }

}  // namespace seer::core
