#include "kernels/topk_block_mask.h"

#include "kernels/cuda_dispatch.h"

#include <ATen/ATen.h>

#ifdef SEER_WITH_CUDA
#include "kernels/cuda/topk_mask.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>
#endif

namespace seer::kernels {

std::optional<at::Tensor> topk_block_mask(const at::Tensor& scores, const at::Tensor& keep,
                                          int64_t causal_offset) {
#ifdef SEER_WITH_CUDA
  if (!scores.is_cuda() || !cuda_dispatch::available() || scores.dim() != 4 ||
      scores.size(3) > cuda::kTopkMaskMaxColumns) {
    return std::nullopt;
  }
  const c10::cuda::CUDAGuard guard(scores.device());
  const int64_t B = scores.size(0), H = scores.size(1), nbq = scores.size(2), nbk = scores.size(3);
  // Scores broadcast over the batch (a [1, H, ...] tensor against per-sequence keep counts) are
  // left to the caller's general path.
  // Counts per head ([B, H, nbq, 1]) are too.
  if (keep.dim() != 4 || (keep.size(0) != B && keep.size(0) != 1) || keep.size(1) != 1 ||
      keep.size(2) != nbq)
    return std::nullopt;
  const at::Tensor s = scores.to(at::kFloat).contiguous();
  const at::Tensor k = keep.to(scores.device(), at::kInt).expand({B, 1, nbq, 1}).contiguous();
  // Poisoned with true: an entry the kernel skips shows up as a kept block.
  const auto bool_opts = s.options().dtype(at::kBool);
  at::Tensor mask = cuda_dispatch::poison_outputs() ? at::ones({B, H, nbq, nbk}, bool_opts)
                                                    : at::empty({B, H, nbq, nbk}, bool_opts);
  cuda::TopkMaskParams p;
  p.scores = s.data_ptr<float>();
  p.keep = k.data_ptr<int32_t>();
  p.mask = reinterpret_cast<uint8_t*>(mask.data_ptr<bool>());
  p.batch = static_cast<int>(B);
  p.heads = static_cast<int>(H);
  p.nbq = static_cast<int>(nbq);
  p.nbk = static_cast<int>(nbk);
  p.causal_offset = static_cast<int>(std::min<int64_t>(causal_offset, nbk));
  p.stream = at::cuda::getCurrentCUDAStream().stream();
  cuda::launch_topk_mask(p);
  return mask;
#else
  (void)scores, (void)keep, (void)causal_offset;
  return std::nullopt;
#endif
}

}  // namespace seer::kernels
