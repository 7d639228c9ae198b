// Host launcher of the per-row top-k block mask (kernels/cuda/topk_mask.cu), in plain pointers so
// nvcc never sees torch headers. kernels/topk_block_mask.cpp calls it for CUDA scores.
#pragma once

#include <cstdint>

namespace seer::kernels::cuda {

struct TopkMaskParams {
  const float* scores = nullptr;   // [B, H, nbq, nbk] contiguous
  const int32_t* keep = nullptr;   // [B, nbq]: blocks to keep in each row of batch entry b
  uint8_t* mask = nullptr;         // [B, H, nbq, nbk] bool bytes, every entry written
  int batch = 0, heads = 0, nbq = 0, nbk = 0;
  int causal_offset = 0;           // row i sees columns j <= i + causal_offset
  void* stream = nullptr;          // cudaStream_t
};

// The largest nbk the kernel takes: its keys (8 B a column) and histogram fit the 48 KB of
// shared memory a launch gets without opting in (5888 blocks of 64 = 376k tokens).
constexpr int kTopkMaskMaxColumns = 5888;

void launch_topk_mask(const TopkMaskParams& p);

}  // namespace seer::kernels::cuda
