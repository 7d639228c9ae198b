// Dense attention launcher: instantiations of flash_fwd_kernel in kDense mode.
#include "kernels/cuda/launch_fwd.cuh"

#include <cstdlib>

namespace seer::kernels::cuda {

char flash_variant(char default_variant, bool needs_64_row_tiles) {
  const char* env = std::getenv("SEER_FLASH_VARIANT");
  char v = (env != nullptr && env[0] != '\0') ? env[0] : default_variant;
  if (v != 'A' && v != 'B' && v != 'C') v = default_variant;
  if (needs_64_row_tiles && v == 'B') v = 'A';
  return v;
}

void launch_attention_dense(const AttnParams& p) {
  switch (flash_variant('B', false)) {
    case 'A': return launch_fwd_typed<FwdMode::kDense, 4, 1>(p);
    case 'C': return launch_fwd_typed<FwdMode::kDense, 2, 2>(p);
    default: return launch_fwd_typed<FwdMode::kDense, 4, 2>(p);
  }
}

}  // namespace seer::kernels::cuda
