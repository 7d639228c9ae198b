// Dense attention launcher: the Hopper wgmma kernel (variant W, flash_fwd_wgmma.cu) where it
// applies (the default there), else instantiations of flash_fwd_kernel in kDense mode (B).
#include "kernels/cuda/launch_fwd.cuh"

#include <cstdlib>

namespace seer::kernels::cuda {

char flash_variant_raw(char default_variant) {
  const char* env = std::getenv("SEER_FLASH_VARIANT");
  const char v = (env != nullptr && env[0] != '\0') ? env[0] : default_variant;
  switch (v) {
    case 'A': case 'B': case 'C': case 'H': case 'S': case 'W': case 'X': return v;
    default: return default_variant;
  }
}

char flash_variant(char default_variant, bool needs_64_row_tiles) {
  char v = flash_variant_raw(default_variant);
  if (v == 'H' || v == 'S' || v == 'W' || v == 'X') v = default_variant;   // sparse / dense only
  if (needs_64_row_tiles && v == 'B') v = 'A';
  return v;
}

void launch_attention_dense(const AttnParams& p) {
  // W by default: on an H100 1.7-1.9x variant B at 8k-128k (bench/NOTES.md, round 4). It
  // declines off Hopper, without sm_90a code and for head dim 64, and B runs instead.
  if (flash_variant_raw('W') == 'W' && launch_attention_dense_wgmma(p)) return;
  switch (flash_variant('B', false)) {
    case 'A': return launch_fwd_typed<FwdMode::kDense, 4, 1>(p);
    case 'C': return launch_fwd_typed<FwdMode::kDense, 2, 2>(p);
    default: return launch_fwd_typed<FwdMode::kDense, 4, 2>(p);
  }
}

}  // namespace seer::kernels::cuda
