// Batch layouts -> a list of sequences (see seq_spans.h).
#include "kernels/seq_spans.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>

namespace seer::kernels {
namespace {

std::vector<int64_t> host_values(const at::Tensor& t) {
  const at::Tensor h = t.to(at::kCPU, at::kLong).contiguous();
  return std::vector<int64_t>(h.data_ptr<int64_t>(), h.data_ptr<int64_t>() + h.numel());
}

std::vector<int64_t> checked_cu_seqlens(const at::Tensor& cu, const char* name, int64_t total,
                                        const char* total_name) {
  const std::vector<int64_t> c = host_values(cu);
  TORCH_CHECK_VALUE(c.front() == 0, fmt::format("{}: entry 0 = {}, expected 0", name, c.front()));
  for (size_t i = 1; i < c.size(); ++i) {
    TORCH_CHECK_VALUE(c[i] >= c[i - 1],
                      fmt::format("{}: entry {} = {} is less than entry {} = {} (prefix sums must "
                                  "not decrease)",
                                  name, i, c[i], i - 1, c[i - 1]));
  }
  TORCH_CHECK_VALUE(c.back() == total,
                    fmt::format("{}: last entry = {} differs from {} = {}", name, c.back(),
                                total_name, total));
  return c;
}

}  // namespace

std::vector<SeqSpan> seq_spans(const at::Tensor& q, const at::Tensor& k, const AttnOptions& opts) {
  const int64_t B = q.size(0);
  const int64_t Sq = q.size(1);
  const int64_t Sk = k.size(1);
  std::vector<SeqSpan> spans;
  if (opts.cu_seqlens_q.has_value()) {
    const auto cq = checked_cu_seqlens(*opts.cu_seqlens_q, "cu_seqlens_q", Sq, "q: dim 1 (total_q)");
    const auto ck = checked_cu_seqlens(*opts.cu_seqlens_k, "cu_seqlens_k", Sk, "k: dim 1 (total_k)");
    for (size_t s = 0; s + 1 < cq.size(); ++s) {
      spans.push_back({static_cast<int64_t>(s), 0, cq[s], cq[s + 1] - cq[s], ck[s],
                       ck[s + 1] - ck[s]});
    }
    return spans;
  }
  if (opts.seq_lens.has_value()) {
    const std::vector<int64_t> lens = host_values(*opts.seq_lens);
    for (int64_t b = 0; b < B; ++b) {
      TORCH_CHECK_VALUE(lens[b] >= 0 && lens[b] <= Sq,
                        fmt::format("seq_lens: entry {} = {} outside [0, S = {}]", b, lens[b], Sq));
      spans.push_back({b, b, 0, lens[b], 0, lens[b]});
    }
    return spans;
  }
  for (int64_t b = 0; b < B; ++b) spans.push_back({b, b, 0, Sq, 0, Sk});
  return spans;
}

int64_t max_q_len(const std::vector<SeqSpan>& spans, const at::Tensor& q, const AttnOptions& opts) {
  if (!opts.cu_seqlens_q.has_value()) return q.size(1);
  int64_t m = 0;
  for (const auto& s : spans) m = std::max(m, s.q_len);
  return m;
}

int64_t max_k_len(const std::vector<SeqSpan>& spans, const at::Tensor& k, const AttnOptions& opts) {
  if (!opts.cu_seqlens_k.has_value()) return k.size(1);
  int64_t m = 0;
  for (const auto& s : spans) m = std::max(m, s.k_len);
  return m;
}

}  // namespace seer::kernels
