// Block-sparse attention launcher: flash_fwd_kernel in kSparse mode (tile lists only) or
// kSparseFine (mask blocks of 16 / 32: tile lists plus the element mask). The tile lists are built
// for 64-row query blocks. Variants: X (default) is the Hopper wgmma kernel on 128-key steps over
// pairs of list entries (flash_fwd_wgmma_sparse_pair.cu; head dim 128, no element mask, sm_90a;
// else H); S runs one 64-row CTA per block whose two warp pairs split the block's list
// (flash_fwd_split.cuh); B runs 128-row CTAs over two blocks' merged lists; H (the default where X
// declines) sends each pair of blocks to B or S by how much their lists overlap; A is the 64-row
// CTA of four 16-row warps (the sparse default before round 3).
#include "kernels/cuda/flash_fwd_split.cuh"
#include "kernels/cuda/launch_fwd.cuh"

namespace seer::kernels::cuda {

void launch_attention_sparse(const AttnParams& p_in) {
  if (p_in.fine_mask != nullptr) return launch_fwd_typed<FwdMode::kSparseFine, 4, 1>(p_in);
  AttnParams p = p_in;
  char v = flash_variant_raw('X');
  if (v == 'W') v = 'X';   // dense only
  // 'X' (default): the Hopper wgmma kernel on 128-key steps, 5-13% faster than its 64-key-step
  // predecessor V at 32k / 128k, keep >= 0.3, 0-11% at 0.1 / 0.05 (H100, bench/NOTES.md round 5),
  // which ran 1.6-1.9x H (round 4). It declines off Hopper, without sm_90a code, at head dim 64
  // and for element masks; H runs there.
  if (v == 'X') {
    if (launch_attention_sparse_wgmma_pair(p)) return;
    v = 'H';
  }
  if (p.pair_choice == nullptr && v == 'H') v = 'S';
  // 'B': 128-row CTAs over the union of two query blocks' lists (merged list in shared memory,
  // 4 bytes per key tile: up to 4096 key tiles keep two CTAs per SM). 'H' (default): pairs whose
  // lists overlap enough run there, the others in split 64-row CTAs ('S'), in a second launch.
  if (v == 'B' && p.n_ktiles > 4096) v = 'A';
  if (v == 'H' && p.n_ktiles > 4096) v = 'S';
  switch (v) {
    case 'H': {
      constexpr int kPlanWarps = 8;
      const int64_t n_pairs = int64_t(p.batch) * p.hq * ((p.n_qtiles + 1) / 2);
      const int plan_smem = kPlanWarps * ((p.n_ktiles + 31) / 32) * 4;
      if (n_pairs == 0) return;
      sparse_pair_plan_kernel<kPlanWarps>
          <<<static_cast<unsigned>((n_pairs + kPlanWarps - 1) / kPlanWarps), kPlanWarps * 32,
             plan_smem, static_cast<cudaStream_t>(p.stream)>>>(p);
      SEER_CUDA_CHECK(cudaGetLastError());
      p.pair_mode = 1;
      launch_fwd_typed<FwdMode::kSparse, 4, 2>(p);
      p.pair_mode = 2;
      return launch_fwd_split_typed(p);
    }
    case 'S': return launch_fwd_split_typed(p);
    case 'B': return launch_fwd_typed<FwdMode::kSparse, 4, 2>(p);
    case 'C': return launch_fwd_typed<FwdMode::kSparse, 2, 2>(p);
    default: return launch_fwd_typed<FwdMode::kSparse, 4, 1>(p);
  }
}

}  // namespace seer::kernels::cuda
