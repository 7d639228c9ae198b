// GPU tests of attention_with_block_maxpool(): output, lse and the ground truth G against the CPU
// float64 reference, fresh random inputs, NaN-poisoned outputs. Each case runs under the default
// (on Hopper: variant W's maxpool mode for pool block 64, head dim 128; B otherwise) and under
// SEER_FLASH_VARIANT=B (the mma.sync kernel's kMaxpool mode).
// c10's logging header defines a fatal CHECK(); included first, Catch's CHECK replaces it (else
// ATen, included later, would silently turn every CHECK below into a c10 abort-on-failure).
#include <c10/util/Logging.h>
#include "catch.h"
#include "cuda_compare_util.h"
#include "kernels/attention.h"

#include <ATen/ATen.h>

#include <cstdlib>
#include <vector>

using namespace seer::kernels;
using namespace seer::kernels::testing;

namespace {

// The default variants: "" (W's maxpool mode where it applies) and "B".
const char* const kVariants[] = {"", "B"};

}  // namespace

TEST_CASE("attention_with_block_maxpool cuda matches the float64 reference", "[cuda][maxpool]") {
  if (!cuda_ready()) SEER_SKIP("no CUDA device");
  REQUIRE(hopper_kernel_present(HopperKernel::kMaxpool));
  struct Case { int64_t B, Sq, Sk, Hq, Hkv, D, block; double logit_scale; bool causal = true; };
  const std::vector<Case> cases = {
      {1, 37, 37, 4, 1, 64, 64, 1.0},       // S < block
      {2, 300, 300, 8, 2, 128, 64, 1.0},    // odd S, GQA 4
      {1, 200, 200, 8, 1, 128, 16, 1.0},    // block 16, GQA 8
      {1, 200, 200, 4, 4, 64, 32, 1.0},     // block 32
      {1, 300, 300, 4, 2, 128, 128, 1.0},   // block 128
      {1, 64, 256, 4, 2, 128, 64, 1.0},     // chunked queries
      {1, 256, 256, 4, 4, 128, 64, 6.0},    // large logits
      // Pool block 64, head dim 128 (W's maxpool mode on Hopper): odd lengths, GQA 1 / 4 / 8,
      // batch > 1, a half-tile tail (S mod 128 < 64), chunked and non-causal.
      {1, 1, 1, 4, 4, 128, 64, 1.0},        // one row
      {1, 77, 77, 8, 8, 128, 64, 1.0},      // GQA 1, S < 128
      {2, 451, 451, 8, 2, 128, 64, 1.0},    // GQA 4, odd S, batch 2
      {1, 1000, 1000, 8, 1, 128, 64, 1.0},  // GQA 8, S mod 128 = 104
      {3, 321, 321, 4, 1, 128, 64, 2.0},    // S mod 128 = 65, batch 3
      {1, 129, 129, 4, 2, 128, 64, 1.0},    // one key into the second tile
      {1, 100, 612, 8, 2, 128, 64, 1.0},    // chunked queries (Sk - Sq a multiple of 64), odd
      {2, 333, 333, 8, 4, 128, 64, 1.0, false},   // non-causal
  };
  for (const Case& c : cases) {
    const QKV x = random_qkv(c.B, c.Sq, c.Sk, c.Hq, c.Hkv, c.D, at::kBFloat16, c.logit_scale);
    AttnOptions opts;
    opts.return_lse = true;
    opts.causal = c.causal;
    const MaxpoolResult ref = attention_with_block_maxpool(to_cpu64(x.q), to_cpu64(x.k),
                                                           to_cpu64(x.v), c.block, cpu_options(opts));
    for (const char* variant : kVariants) {
      const ScopedFlashVariant env(variant);
      const MaxpoolResult got = attention_with_block_maxpool(x.q, x.k, x.v, c.block, opts);
      INFO(shape_text(x) << " block " << c.block << " causal " << c.causal << " variant '"
                          << variant << "'");
      CHECK(rel_err(got.out, ref.out) < 1e-2);
      CHECK(max_abs_err(got.lse, ref.lse) < 2e-2);
      REQUIRE(got.block_maxpool.sizes() == ref.block_maxpool.sizes());
      CHECK(max_abs_err(got.block_maxpool, ref.block_maxpool) < 2e-2);
      // Rows sum to 1, nothing above the diagonal.
      CHECK(max_abs_err(got.block_maxpool.sum(3), ref.block_maxpool.sum(3)) < 1e-4);
    }
  }
}

TEST_CASE("attention_with_block_maxpool cuda padded batch", "[cuda][maxpool]") {
  if (!cuda_ready()) SEER_SKIP("no CUDA device");
  REQUIRE(hopper_kernel_present(HopperKernel::kMaxpool));
  // Second sequence: 70 (a partial second tile) and 50 (its second pool block past the end).
  for (const int32_t len1 : {70, 50}) {
    const QKV x = random_qkv(2, 190, 190, 4, 2, 128, at::kBFloat16);
    AttnOptions opts;
    opts.seq_lens =
        at::tensor(std::vector<int32_t>{190, len1}, at::TensorOptions().dtype(at::kInt));
    const MaxpoolResult ref = attention_with_block_maxpool(to_cpu64(x.q), to_cpu64(x.k),
                                                           to_cpu64(x.v), 64, cpu_options(opts));
    for (const char* variant : kVariants) {
      const ScopedFlashVariant env(variant);
      const MaxpoolResult got = attention_with_block_maxpool(x.q, x.k, x.v, 64, opts);
      INFO("padded, second length " << len1 << " variant '" << variant << "'");
      CHECK(rel_err(got.out, ref.out) < 1e-2);
      CHECK(max_abs_err(got.block_maxpool, ref.block_maxpool) < 2e-2);
    }
  }
}

TEST_CASE("attention_with_block_maxpool cuda varlen batch", "[cuda][maxpool]") {
  if (!cuda_ready()) SEER_SKIP("no CUDA device");
  REQUIRE(hopper_kernel_present(HopperKernel::kMaxpool));
  const auto int_cpu = at::TensorOptions().dtype(at::kInt);
  for (const int64_t block : {16, 64}) {
    // Three sequences: 50 rows, 129 rows, and a chunk of 64 queries over 128 keys.
    const QKV x = random_qkv(1, 243, 307, 4, 2, 128, at::kBFloat16);
    AttnOptions opts;
    opts.return_lse = true;
    opts.cu_seqlens_q = at::tensor(std::vector<int32_t>{0, 50, 179, 243}, int_cpu).cuda();
    opts.cu_seqlens_k = at::tensor(std::vector<int32_t>{0, 50, 179, 307}, int_cpu).cuda();
    const MaxpoolResult ref = attention_with_block_maxpool(to_cpu64(x.q), to_cpu64(x.k),
                                                           to_cpu64(x.v), block, cpu_options(opts));
    for (const char* variant : kVariants) {
      const ScopedFlashVariant env(variant);
      const MaxpoolResult got = attention_with_block_maxpool(x.q, x.k, x.v, block, opts);
      INFO("varlen block " << block << " variant '" << variant << "'");
      CHECK(rel_err(got.out, ref.out) < 1e-2);
      CHECK(max_abs_err(got.lse, ref.lse) < 2e-2);
      REQUIRE(got.block_maxpool.sizes() == ref.block_maxpool.sizes());
      CHECK(max_abs_err(got.block_maxpool, ref.block_maxpool) < 2e-2);
    }
  }
}
