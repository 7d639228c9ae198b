// CPU reference of pool_blocks(): per-block avg / max / min along the sequence, ceil mode (a
// partial last block pools the rows it has). Averages accumulate in float32 (float64 inputs in
// float64); max and min are exact in any dtype. Blocks wholly past a padded sequence's length are 0.
#include "kernels/ref/ref.h"
#include "kernels/seq_spans.h"

#include <ATen/ATen.h>

namespace seer::kernels::ref {

at::Tensor pool_blocks(const at::Tensor& x, int64_t block, const std::vector<PoolKind>& kinds,
                       const std::optional<at::Tensor>& seq_lens) {
  const int64_t B = x.size(0);
  const int64_t S = x.size(1);
  const int64_t H = x.size(2);
  const int64_t D = x.size(3);
  const int64_t nb = ceil_div(S, block);
  const int64_t K = static_cast<int64_t>(kinds.size());
  const at::ScalarType acc = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  at::Tensor out = at::zeros({B, nb, H, D * K}, x.options());
  const at::Tensor lens =
      seq_lens.has_value() ? seq_lens->to(at::kCPU, at::kLong).contiguous() : at::Tensor();
  const auto pool_into = [&](const at::Tensor& tiles, at::Tensor dst) {   // [n, rows, H, D]
    for (int64_t c = 0; c < K; ++c) {
      at::Tensor slot = dst.narrow(2, c * D, D);                          // [n, H, D]
      switch (kinds[c]) {
        case PoolKind::kAvg: slot.copy_(tiles.to(acc).mean(1)); break;
        case PoolKind::kMax: slot.copy_(std::get<0>(tiles.max(1))); break;
        case PoolKind::kMin: slot.copy_(std::get<0>(tiles.min(1))); break;
      }
    }
  };
  for (int64_t b = 0; b < B; ++b) {
    const int64_t len = lens.defined() ? lens.data_ptr<int64_t>()[b] : S;
    const int64_t full = len / block;
    if (full > 0) {
      pool_into(x[b].narrow(0, 0, full * block).reshape({full, block, H, D}),
                out[b].narrow(0, 0, full));
    }
    if (len > full * block) {   // the partial last block
      pool_into(x[b].narrow(0, full * block, len - full * block).unsqueeze(0),
                out[b].narrow(0, full, 1));
    }
  }
  return out;
}

}  // namespace seer::kernels::ref
