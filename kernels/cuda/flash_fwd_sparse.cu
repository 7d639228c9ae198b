// Block-sparse attention launcher: flash_fwd_kernel in kSparse mode (tile lists only) or
// kSparseFine (mask blocks of 16 / 32: tile lists plus the element mask). The tile lists are
// built for 64-row query tiles, so only the 64-row variants exist here.
#include "kernels/cuda/launch_fwd.cuh"

namespace seer::kernels::cuda {

void launch_attention_sparse(const AttnParams& p) {
  if (p.fine_mask != nullptr) return launch_fwd_typed<FwdMode::kSparseFine, 4, 1>(p);
  switch (flash_variant('A', true)) {
    case 'C': return launch_fwd_typed<FwdMode::kSparse, 2, 2>(p);
    default: return launch_fwd_typed<FwdMode::kSparse, 4, 1>(p);
  }
}

}  // namespace seer::kernels::cuda
