// Block-sparse attention launcher: flash_fwd_kernel in kSparse mode (tile lists only) or
// kSparseFine (mask blocks of 16 / 32: tile lists plus the element mask). The tile lists are
// built for 64-row query blocks; variant B runs 128-row CTAs over two blocks' merged lists,
// variant H (default) each pair of blocks in B or A by how much their lists overlap; variant S
// (flash_fwd_split.cuh) splits each block's list between two warp pairs of 32-row warps, and
// variant P is H with S in place of A; T is S with the CTAs in the other kernels' order.
#include "kernels/cuda/flash_fwd_split.cuh"
#include "kernels/cuda/launch_fwd.cuh"

namespace seer::kernels::cuda {

void launch_attention_sparse(const AttnParams& p_in) {
  if (p_in.fine_mask != nullptr) return launch_fwd_typed<FwdMode::kSparseFine, 4, 1>(p_in);
  AttnParams p = p_in;
  char v = flash_variant_raw('H');
  if (p.pair_choice == nullptr && v == 'H') v = 'A';
  if (p.pair_choice == nullptr && v == 'P') v = 'S';
  // 'B': 128-row CTAs over the union of two query blocks' lists (merged list in shared memory,
  // 4 bytes per key tile: up to 4096 key tiles keep two CTAs per SM). 'H' (default): pairs whose
  // lists overlap enough run there, the others in 64-row CTAs ('A'), in a second launch.
  if ((v == 'B' || v == 'H') && p.n_ktiles > 4096) v = 'A';
  if (v == 'P' && p.n_ktiles > 4096) v = 'S';
  switch (v) {
    case 'H':
    case 'P': {
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
      if (v == 'P') return launch_fwd_split_typed(p, SplitOrder::kKvHeadMajor);
      return launch_fwd_typed<FwdMode::kSparse, 4, 1>(p);
    }
    case 'S': return launch_fwd_split_typed(p, SplitOrder::kKvHeadMajor);
    case 'T': return launch_fwd_split_typed(p, SplitOrder::kTileMajor);
    case 'B': return launch_fwd_typed<FwdMode::kSparse, 4, 2>(p);
    case 'C': return launch_fwd_typed<FwdMode::kSparse, 2, 2>(p);
    default: return launch_fwd_typed<FwdMode::kSparse, 4, 1>(p);
  }
}

}  // namespace seer::kernels::cuda
