// GPU test of the top-k block mask (kernels/cuda/topk_mask.cu, reached through
// core::mask_from_topk on CUDA scores): the mask must equal the CPU path's stable sort exactly, on
// rows with many tied scores (ties go to the lower block), by count k and by keep ratio, with the
// chunk offset, padded batches, and widths that are not multiples of the kernel's 256 threads;
// and the top-k policy's forced-block rules (forced blocks ranked as +inf scores).
// The kernel's output starts poisoned (all true), so an entry it skips fails.
#include "catch.h"
#include "gates_test_util.h"

#include "core/sparsity/block_mask.h"
#include "core/sparsity/sparsity_policy.h"
#include "kernels/attention.h"

#include <ATen/ATen.h>

#include <cstdlib>

using seer::core::BlockGeometry;

namespace {

// Scores with ties: `levels` distinct values (0 = continuous).
at::Tensor random_scores(int64_t B, int64_t H, int64_t nbq, int64_t nbk, int levels) {
  const at::Tensor u = at::rand({B, H, nbq, nbk});
  return levels > 0 ? at::floor(u * levels) / levels : u;
}

void check_same_mask(const at::Tensor& scores, int64_t sq, int64_t sk, int64_t block, int64_t k,
                     double ratio, const std::optional<at::Tensor>& lens = std::nullopt) {
  const int64_t B = scores.size(0), H = scores.size(1);
  BlockGeometry cpu_geo = seer::gates_test::geometry(sq, sk, block, H, B);
  BlockGeometry gpu_geo = seer::gates_test::geometry(sq, sk, block, H, B, at::kCUDA);
  if (lens) {
    cpu_geo.seq_lens = *lens;
    gpu_geo.seq_lens = lens->cuda();
  }
  const at::Tensor cpu = seer::core::mask_from_topk(scores, cpu_geo, k, ratio);
  const at::Tensor gpu = seer::core::mask_from_topk(scores.cuda(), gpu_geo, k, ratio);
  INFO("scores " << scores.sizes() << " sq " << sq << " sk " << sk << " k " << k << " ratio "
                 << ratio << " kept " << cpu.sum().item<int64_t>());
  REQUIRE(gpu.is_cuda());
  CHECK(at::equal(gpu.cpu(), cpu));
}

// Outputs start poisoned for the test's duration, however it ends.
struct PoisonOutputs {
  PoisonOutputs() { setenv("SEER_POISON_OUTPUTS", "1", 1); }
  ~PoisonOutputs() { unsetenv("SEER_POISON_OUTPUTS"); }
};

}  // namespace

TEST_CASE("top-k block mask on the GPU equals the CPU sort", "[cuda][topk]") {
  if (!seer::kernels::cuda_kernels_available()) SEER_SKIP("no CUDA device");
  const PoisonOutputs poison;
  at::manual_seed(21);
  for (const int levels : {0, 3}) {
    for (const int64_t S : {45, 64, 300, 16447}) {   // nb 1, 1, 5, 257
      const int64_t nb = (S + 63) / 64;
      for (const double ratio : {0.1, 0.5, 1.0})
        check_same_mask(random_scores(2, 3, nb, nb, levels), S, S, 64, 0, ratio);
      check_same_mask(random_scores(1, 4, nb, nb, levels), S, S, 64, 3, 0.0);
    }
    // Chunked queries: 100 rows against a cache of 148 keys, block 16 (offset 3 blocks).
    check_same_mask(random_scores(1, 8, 7, 10, levels), 100, 148, 16, 0, 0.3);
    // Padded batch: the second sequence ends in block 3, its later rows keep nothing.
    const at::Tensor lens = at::tensor({300, 200}, at::kLong);
    check_same_mask(random_scores(2, 2, 5, 5, levels), 300, 300, 64, 0, 0.5, lens);
  }
}

TEST_CASE("top-k block mask on the GPU at 128k tokens", "[cuda][topk]") {
  if (!seer::kernels::cuda_kernels_available()) SEER_SKIP("no CUDA device");
  const PoisonOutputs poison;
  at::manual_seed(22);
  const int64_t S = 131072, nb = S / 64;
  check_same_mask(random_scores(1, 2, nb, nb, 0), S, S, 64, 0, 0.1);
  check_same_mask(random_scores(1, 2, nb, nb, 5), S, S, 64, 0, 0.5);
}

TEST_CASE("top-k rules (forced blocks inside k, the reference's nz_ratio) on the GPU equal the CPU",
          "[cuda][topk]") {
  if (!seer::kernels::cuda_kernels_available()) SEER_SKIP("no CUDA device");
  const PoisonOutputs poison;
  at::manual_seed(23);
  // forced_blocks inside ranks the diagonal and the sink as +inf scores: the radix select must
  // order them first, as the CPU sort does.
  for (const auto rule : {seer::core::ForcedBlocks::kInside, seer::core::ForcedBlocks::kScored}) {
    for (const int64_t S : {300, 8192}) {
      const int64_t nb = (S + 63) / 64;
      seer::core::MaskOptions o;
      o.keep_sink = rule == seer::core::ForcedBlocks::kInside;
      const seer::core::TopkPolicy policy(seer::core::TopkCount{0, 0.0, 0.2}, rule,
                                          seer::core::ScoreSource::kGate, o);
      const at::Tensor scores = random_scores(2, 3, nb, nb, 3);
      seer::core::SparsityInputs cpu, gpu;
      cpu.geo = seer::gates_test::geometry(S, S, 64, 3, 2);
      gpu.geo = seer::gates_test::geometry(S, S, 64, 3, 2, at::kCUDA);
      cpu.gate_scores = scores;
      gpu.gate_scores = scores.cuda();
      INFO("S " << S << " rule " << static_cast<int>(rule));
      CHECK(at::equal(policy.mask(gpu).cpu(), policy.mask(cpu)));
    }
  }
}
