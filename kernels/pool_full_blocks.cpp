#include "kernels/pool_full_blocks.h"

#include <ATen/ATen.h>

namespace seer::kernels {

std::optional<at::Tensor> pool_full_blocks(const at::Tensor& x, int64_t block,
                                           const std::vector<PoolKind>& kinds,
                                           const std::optional<at::Tensor>& seq_lens) {
  const int64_t B = x.size(0), S = x.size(1), H = x.size(2), D = x.size(3);
  if ((seq_lens.has_value() && seq_lens->defined()) || S == 0 || S % block != 0) return std::nullopt;
  const at::Tensor blocks = x.reshape({B, S / block, block, H, D});
  std::vector<at::Tensor> parts;
  for (const PoolKind kind : kinds) {
    if (kind == PoolKind::kAvg) {
      parts.push_back(blocks.sum(2, /*keepdim=*/false, at::kFloat) / static_cast<double>(block));
    } else if (kind == PoolKind::kMax) {
      parts.push_back(blocks.amax(2).to(at::kFloat));   // exact in any dtype
    } else {
      parts.push_back(blocks.amin(2).to(at::kFloat));
    }
  }
  return at::cat(parts, 3).to(x.scalar_type()).contiguous();
}

}  // namespace seer::kernels
