// Attention + max-pool ground truth launcher: the Hopper wgmma kernel in maxpool mode (variant W,
// pool block 64, head dim 128 on sm_90a) where it applies, else flash_fwd_kernel in kMaxpool mode.
#include "kernels/cuda/launch_fwd.cuh"

namespace seer::kernels::cuda {

void launch_attention_maxpool(const AttnParams& p) {
  if (flash_variant_raw('W') == 'W' && launch_attention_maxpool_wgmma(p)) return;
  switch (flash_variant('B', false)) {
    case 'A': return launch_fwd_typed<FwdMode::kMaxpool, 4, 1>(p);
    case 'C': return launch_fwd_typed<FwdMode::kMaxpool, 2, 2>(p);
    default: return launch_fwd_typed<FwdMode::kMaxpool, 4, 2>(p);
  }
}

}  // namespace seer::kernels::cuda
