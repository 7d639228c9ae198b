// GPU tests of the Hopper wgmma block-sparse kernel (SEER_FLASH_VARIANT=X, the sparse default on
// Hopper, 128-key steps over pairs of list entries, kernels/cuda/flash_fwd_wgmma_sparse_pair.cuh)
// at head dim 128, the only one it takes, against the CPU float64 reference and the mma.sync
// variant H, with NaN-poisoned outputs: odd lengths, odd query block counts, odd and even list
// lengths, GQA, batch > 1, chunked queries, empty rows, all kept, padded batches with NaN padding,
// varlen.
// c10's logging header defines a fatal CHECK(); included first, Catch's CHECK replaces it (else
// ATen, included later, would silently turn every CHECK below into a c10 abort-on-failure).
#include <c10/util/Logging.h>
#include "catch.h"
#include "cuda_compare_util.h"
#include "kernels/attention.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

using namespace seer::kernels;
using namespace seer::kernels::testing;

namespace {

// Variant `variant` (X) against the float64 reference and against H on the same lists.
void check_wgmma(const std::string& variant, const QKV& x, const at::Tensor& mask_cpu, int64_t block,
             const AttnOptions& base = {}) {
  const int64_t sq = x.q.size(1), sk = x.k.size(1);
  AttnOptions opts = base;
  opts.return_lse = true;
  const BlockIndex idx_gpu = block_index_from_mask(mask_cpu.cuda(), block, sq, sk);
  const BlockIndex idx_cpu = block_index_from_mask(mask_cpu, block, sq, sk);
  AttnResult got, h;
  {
    const ScopedFlashVariant v(variant);
    got = block_sparse_attention(x.q, x.k, x.v, idx_gpu, opts);
  }
  {
    const ScopedFlashVariant v("H");
    h = block_sparse_attention(x.q, x.k, x.v, idx_gpu, opts);
  }
  const AttnResult ref = block_sparse_attention(to_cpu64(x.q), to_cpu64(x.k), to_cpu64(x.v),
                                                idx_cpu, cpu_options(opts));
  INFO("variant " << variant << " " << shape_text(x) << " block " << block << " kept " << mask_cpu.sum().item<int64_t>()
                     << " dtype " << (x.q.scalar_type() == at::kBFloat16 ? "bf16" : "fp16"));
  CHECK(rel_err(got.out, ref.out) < 1e-2);
  CHECK(max_abs_err(got.lse, ref.lse) < 2e-2);
  CHECK(rel_err(got.out, h.out) < 1e-2);
  CHECK(max_abs_err(got.lse, h.lse) < 1e-3);
}

}  // namespace

TEST_CASE("block_sparse_attention cuda variant X matches the float64 reference and H",
          "[cuda][sparse][wgmma]") {
  if (!cuda_ready()) SEER_SKIP("no CUDA device");
  REQUIRE(hopper_kernel_present(HopperKernel::kSparse));
  const std::string variant = "X";
  struct Case {
    int64_t B, Sq, Sk, Hq, Hkv;
    double logit_scale;
  };
  const std::vector<Case> cases = {
      {1, 1, 1, 2, 2, 1.0},         // single row
      {1, 37, 37, 4, 1, 1.0},       // S < 64, GQA 4
      {1, 130, 130, 2, 2, 1.0},     // 3 query blocks, the last one partial
      {2, 300, 300, 8, 2, 1.0},     // batch 2, odd S
      {1, 256, 512, 8, 1, 1.0},     // chunked queries, GQA 8
      {2, 777, 777, 4, 4, 8.0},     // many tiles, partial last tile, large logits
  };
  uint64_t seed = 5;
  for (const at::ScalarType dtype : {at::kBFloat16, at::kHalf}) {
    for (const Case& c : cases) {
      const QKV x = random_qkv(c.B, c.Sq, c.Sk, c.Hq, c.Hkv, 128, dtype, c.logit_scale);
      for (const int64_t block : {64, 128}) {
        for (const double keep : {0.0, 0.3, 1.0})
          check_wgmma(variant, x, random_block_mask(c.B, c.Hq, c.Sq, c.Sk, block, keep, seed++), block);
      }
    }
  }
}

TEST_CASE("block_sparse_attention cuda variant X empty rows and all kept",
          "[cuda][sparse][wgmma]") {
  if (!cuda_ready()) SEER_SKIP("no CUDA device");
  REQUIRE(hopper_kernel_present(HopperKernel::kSparse));
  const std::string variant = "X";
  {
    const QKV x = random_qkv(1, 200, 200, 4, 2, 128, at::kBFloat16);
    at::Tensor mask = random_block_mask(1, 4, 200, 200, 64, 0.5, 7);
    mask.select(1, 1).zero_();          // head 1: nothing kept at all
    mask.select(2, 1).fill_(false);     // query block 1 of every head empty
    check_wgmma(variant, x, mask, 64);
    const BlockIndex idx = block_index_from_mask(mask.cuda(), 64, 200, 200);
    AttnOptions opts;
    opts.return_lse = true;
    const ScopedFlashVariant env(variant);   // (check_wgmma's scopes unset the variable on leaving)
    const AttnResult got = block_sparse_attention(x.q, x.k, x.v, idx, opts);
    CHECK(got.out.select(2, 1).abs().max().item<float>() == 0.f);
    CHECK(at::isinf(got.lse.select(1, 1)).all().item<bool>());
  }
  // All kept: lists of 1 .. 6 entries (block 64), odd and even, the last tile partial.
  for (const int64_t block : {64, 128}) {
    const QKV x = random_qkv(2, 333, 333, 8, 2, 128, at::kBFloat16);
    const int64_t nb = (333 + block - 1) / block;
    const at::Tensor mask = at::ones({2, 8, nb, nb}, at::TensorOptions().dtype(at::kBool));
    const BlockIndex idx = block_index_from_mask(mask.cuda(), block, 333, 333);
    const AttnResult dense = attention(x.q, x.k, x.v);
    const ScopedFlashVariant env(variant);
    const AttnResult sparse = block_sparse_attention(x.q, x.k, x.v, idx);
    INFO("variant " << variant << " block " << block);
    CHECK(rel_err(sparse.out, dense.out) < 5e-3);
  }
}

TEST_CASE("block_sparse_attention cuda variant X padded and varlen batches",
          "[cuda][sparse][wgmma]") {
  if (!cuda_ready()) SEER_SKIP("no CUDA device");
  REQUIRE(hopper_kernel_present(HopperKernel::kSparse));
  const std::string variant = "X";
  INFO("variant " << variant);
  const auto int_cpu = at::TensorOptions().dtype(at::kInt);
  for (const at::ScalarType dtype : {at::kBFloat16, at::kHalf}) {
    {  // padded: three sequences of 300 / 77 / 5 valid rows in S = 300
      const QKV x = random_qkv(3, 300, 300, 8, 2, 128, dtype);
      AttnOptions opts;
      opts.seq_lens = at::tensor(std::vector<int32_t>{300, 77, 5}, int_cpu).cuda();
      check_wgmma(variant, x, random_block_mask(3, 8, 300, 300, 64, 0.5, 31), 64, opts);
    }
    {  // padded, NaN in the padding rows of q, k and v: P = 0 there must not make NaN
      QKV x = random_qkv(2, 200, 200, 4, 1, 128, dtype);
      AttnOptions opts;
      opts.return_lse = true;
      opts.seq_lens = at::tensor(std::vector<int32_t>{200, 77}, int_cpu).cuda();
      const at::Tensor mask = random_block_mask(2, 4, 200, 200, 64, 0.7, 41);
      const BlockIndex idx_cpu = block_index_from_mask(mask, 64, 200, 200);
      const AttnResult ref = block_sparse_attention(to_cpu64(x.q), to_cpu64(x.k), to_cpu64(x.v),
                                                    idx_cpu, cpu_options(opts));
      const double nan = std::numeric_limits<double>::quiet_NaN();
      x.q.slice(0, 1, 2).slice(1, 77).fill_(nan);
      x.k.slice(0, 1, 2).slice(1, 77).fill_(nan);
      x.v.slice(0, 1, 2).slice(1, 77).fill_(nan);
      const ScopedFlashVariant env(variant);
      const AttnResult got =
          block_sparse_attention(x.q, x.k, x.v, block_index_from_mask(mask.cuda(), 64, 200, 200), opts);
      CHECK(rel_err(got.out, ref.out) < 1e-2);
      CHECK(max_abs_err(got.lse, ref.lse) < 2e-2);
      CHECK(got.out.slice(0, 1, 2).slice(1, 77).abs().max().item<float>() == 0.f);
    }
    {  // varlen: 50, 129, 1 and 260 rows (sequences aligned at their own starts)
      const QKV x = random_qkv(1, 440, 440, 4, 1, 128, dtype);
      AttnOptions opts;
      opts.cu_seqlens_q = at::tensor(std::vector<int32_t>{0, 50, 179, 180, 440}, int_cpu).cuda();
      opts.cu_seqlens_k = opts.cu_seqlens_q;
      const at::Tensor mask = random_block_mask(4, 4, 260, 260, 64, 0.5, 51);
      AttnOptions ref_opts = opts;
      ref_opts.return_lse = true;
      const AttnResult ref = block_sparse_attention(to_cpu64(x.q), to_cpu64(x.k), to_cpu64(x.v),
                                                    block_index_from_mask(mask, 64, 260, 260),
                                                    cpu_options(ref_opts));
      AttnResult got, h;
      const BlockIndex idx = block_index_from_mask(mask.cuda(), 64, 260, 260);
      {
        const ScopedFlashVariant env(variant);
        got = block_sparse_attention(x.q, x.k, x.v, idx, ref_opts);
      }
      {
        const ScopedFlashVariant env("H");
        h = block_sparse_attention(x.q, x.k, x.v, idx, ref_opts);
      }
      CHECK(rel_err(got.out, ref.out) < 1e-2);
      CHECK(max_abs_err(got.lse, ref.lse) < 2e-2);
      CHECK(rel_err(got.out, h.out) < 1e-2);
    }
  }
}

TEST_CASE("block_sparse_attention cuda variant X lists of every length 1-12",
          "[cuda][sparse][wgmma]") {
  // X pairs a list's entries into 128-key steps and masks the repeated last entry of an odd list:
  // query block t of head h keeps the diagonal and the L - 1 blocks before it, L = 1 + (t + h +
  // 5 b) % 12 (capped by t + 1), so every length of both parities occurs, with the causal
  // diagonal in either half of a step; S = 9 x 64 + 13 ends in a partial tile. (From helper y's
  // tests of its variant Y, bench/NOTES.md round 5.)
  if (!cuda_ready()) SEER_SKIP("no CUDA device");
  REQUIRE(hopper_kernel_present(HopperKernel::kSparse));
  const std::string variant = "X";
  INFO("variant " << variant);
  for (const int64_t S : {589, 832}) {
    const QKV x = random_qkv(2, S, S, 4, 2, 128, at::kBFloat16, 4.0);
    const int64_t nb = (S + 63) / 64;
    at::Tensor mask = at::zeros({2, 4, nb, nb}, at::TensorOptions().dtype(at::kBool));
    for (int64_t bi = 0; bi < 2; ++bi)
      for (int64_t h = 0; h < 4; ++h)
        for (int64_t t = 0; t < nb; ++t) {
          const int64_t len = 1 + (t + h + 5 * bi) % 12;
          for (int64_t j = std::max<int64_t>(0, t - len + 1); j <= t; ++j) mask[bi][h][t][j] = true;
        }
    check_wgmma(variant, x, mask, 64);
  }
}
