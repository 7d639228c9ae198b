// GPU tests of block_index_from_mask() (the warp-ballot compaction of kernels/cuda/block_index.cu):
// counts and lists, zeros past the counts included, must equal the CPU path's exactly, on masks
// whose widths straddle the 32-column steps, with the chunk offset, non-contiguous, and empty or
// full rows. Outputs start poisoned (-7), so an entry the kernel skips fails.
#include <c10/util/Logging.h>
#include "catch.h"
#include "cuda_compare_util.h"
#include "kernels/attention.h"

#include <ATen/ATen.h>

using namespace seer::kernels;
using namespace seer::kernels::testing;

namespace {

void check_same_lists(const at::Tensor& mask_cpu, int64_t block, int64_t sq, int64_t sk) {
  const BlockIndex cpu = block_index_from_mask(mask_cpu, block, sq, sk);
  const BlockIndex gpu = block_index_from_mask(mask_cpu.cuda(), block, sq, sk);
  INFO("mask " << mask_cpu.sizes() << " block " << block << " sq " << sq << " sk " << sk
               << " kept " << mask_cpu.sum().item<int64_t>());
  REQUIRE(gpu.counts.is_cuda());
  REQUIRE(gpu.block == block);
  CHECK(at::equal(gpu.counts.cpu(), cpu.counts));
  CHECK(at::equal(gpu.indices.cpu(), cpu.indices));
}

}  // namespace

TEST_CASE("block_index_from_mask cuda equals the CPU lists", "[cuda][index]") {
  if (!cuda_ready()) SEER_SKIP("no CUDA device");
  at::manual_seed(11);
  for (const int64_t S : {1, 45, 64, 2047, 2049, 2112, 6400}) {   // nb 1, 1, 1, 32, 33, 33, 100
    for (const double keep : {0.0, 0.3, 1.0}) {
      const int64_t nb = (S + 63) / 64;
      check_same_lists(at::rand({2, 3, nb, nb}).lt(keep), 64, S, S);
    }
  }
  // Chunked queries (sk - sq = 3 blocks of 16), GQA-sized head counts, block 16.
  const at::Tensor chunk = at::rand({1, 8, 7, 10}).lt(0.5);
  check_same_lists(chunk, 16, 100, 148);
  // Non-contiguous mask.
  const at::Tensor perm = at::rand({40, 40, 2, 3}).lt(0.5).permute({2, 3, 0, 1});
  check_same_lists(perm, 32, 40 * 32, 40 * 32);
}

TEST_CASE("block_index_from_mask cuda at a long length", "[cuda][index]") {
  if (!cuda_ready()) SEER_SKIP("no CUDA device");
  at::manual_seed(12);
  const int64_t S = 131072 - 37, nb = (S + 63) / 64;   // 2048 blocks, the last one partial
  check_same_lists(at::rand({1, 2, nb, nb}).lt(0.1), 64, S, S);
}
