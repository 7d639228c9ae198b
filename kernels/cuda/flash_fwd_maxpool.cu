// Attention + max-pool ground truth launcher: flash_fwd_kernel in kMaxpool mode.
#include "kernels/cuda/launch_fwd.cuh"

namespace seer::kernels::cuda {

void launch_attention_maxpool(const AttnParams& p) {
  switch (flash_variant('B', false)) {
    case 'A': return launch_fwd_typed<FwdMode::kMaxpool, 4, 1>(p);
    case 'C': return launch_fwd_typed<FwdMode::kMaxpool, 2, 2>(p);
    default: return launch_fwd_typed<FwdMode::kMaxpool, 4, 2>(p);
  }
}

}  // namespace seer::kernels::cuda
