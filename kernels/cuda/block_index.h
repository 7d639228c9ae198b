// Host launcher of the mask -> index-list compaction (kernels/cuda/block_index.cu), in plain
// pointers so nvcc never sees torch headers. kernels/cuda_dispatch.cpp calls it for CUDA masks.
#pragma once

#include <cstdint>

namespace seer::kernels::cuda {

struct BlockIndexParams {
  const uint8_t* mask = nullptr;   // [rows, nbk] bool bytes, contiguous; row = (b, h, i)
  int32_t* counts = nullptr;       // [rows]
  int32_t* indices = nullptr;      // [rows, nbk]: kept columns ascending, then zeros
  int64_t rows = 0;
  int nbq = 0;                     // query blocks per (b, h): row i of (b, h) is row % nbq
  int nbk = 0;
  // Column j of query block i is kept only if j <= i + causal_offset (the causal drop); a
  // causal_offset >= nbk keeps every column the mask keeps.
  int causal_offset = 0;
  void* stream = nullptr;          // cudaStream_t
};

void launch_block_index(const BlockIndexParams& p);

}  // namespace seer::kernels::cuda
