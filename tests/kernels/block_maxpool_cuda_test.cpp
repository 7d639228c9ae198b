// GPU tests of attention_with_block_maxpool(): output, lse and the ground truth G against the CPU
// float64 reference, fresh random inputs, NaN-poisoned outputs.
// c10's logging header defines a fatal CHECK(); included first, Catch's CHECK replaces it (else
// ATen, included later, would silently turn every CHECK below into a c10 abort-on-failure).
#include <c10/util/Logging.h>
#include "catch.h"
#include "cuda_compare_util.h"
#include "kernels/attention.h"

#include <ATen/ATen.h>

#include <vector>

using namespace seer::kernels;
using namespace seer::kernels::testing;

TEST_CASE("attention_with_block_maxpool cuda matches the float64 reference", "[cuda][maxpool]") {
  if (!cuda_ready()) SEER_SKIP("no CUDA device");
  struct Case { int64_t B, Sq, Sk, Hq, Hkv, D, block; double logit_scale; };
  const std::vector<Case> cases = {
      {1, 37, 37, 4, 1, 64, 64, 1.0},       // S < block
      {2, 300, 300, 8, 2, 128, 64, 1.0},    // odd S, GQA 4
      {1, 200, 200, 8, 1, 128, 16, 1.0},    // block 16, GQA 8
      {1, 200, 200, 4, 4, 64, 32, 1.0},     // block 32
      {1, 300, 300, 4, 2, 128, 128, 1.0},   // block 128
      {1, 64, 256, 4, 2, 128, 64, 1.0},     // chunked queries
      {1, 256, 256, 4, 4, 128, 64, 6.0},    // large logits
  };
  for (const Case& c : cases) {
    const QKV x = random_qkv(c.B, c.Sq, c.Sk, c.Hq, c.Hkv, c.D, at::kBFloat16, c.logit_scale);
    AttnOptions opts;
    opts.return_lse = true;
    const MaxpoolResult got = attention_with_block_maxpool(x.q, x.k, x.v, c.block, opts);
    const MaxpoolResult ref = attention_with_block_maxpool(to_cpu64(x.q), to_cpu64(x.k),
                                                           to_cpu64(x.v), c.block, cpu_options(opts));
    INFO(shape_text(x) << " block " << c.block);
    CHECK(rel_err(got.out, ref.out) < 1e-2);
    CHECK(max_abs_err(got.lse, ref.lse) < 2e-2);
    REQUIRE(got.block_maxpool.sizes() == ref.block_maxpool.sizes());
    CHECK(max_abs_err(got.block_maxpool, ref.block_maxpool) < 2e-2);
    // Rows sum to 1, nothing above the diagonal.
    CHECK(max_abs_err(got.block_maxpool.sum(3), ref.block_maxpool.sum(3)) < 1e-4);
  }
}

TEST_CASE("attention_with_block_maxpool cuda padded batch", "[cuda][maxpool]") {
  if (!cuda_ready()) SEER_SKIP("no CUDA device");
  const QKV x = random_qkv(2, 190, 190, 4, 2, 128, at::kBFloat16);
  AttnOptions opts;
  opts.seq_lens = at::tensor(std::vector<int32_t>{190, 70}, at::TensorOptions().dtype(at::kInt));
  const MaxpoolResult got = attention_with_block_maxpool(x.q, x.k, x.v, 64, opts);
  const MaxpoolResult ref = attention_with_block_maxpool(to_cpu64(x.q), to_cpu64(x.k),
                                                         to_cpu64(x.v), 64, cpu_options(opts));
  CHECK(rel_err(got.out, ref.out) < 1e-2);
  CHECK(max_abs_err(got.block_maxpool, ref.block_maxpool) < 2e-2);
}

TEST_CASE("attention_with_block_maxpool cuda varlen batch", "[cuda][maxpool]") {
  if (!cuda_ready()) SEER_SKIP("no CUDA device");
  const auto int_cpu = at::TensorOptions().dtype(at::kInt);
  for (const int64_t block : {16, 64}) {
    // Three sequences: 50 rows, 129 rows, and a chunk of 64 queries over 128 keys.
    const QKV x = random_qkv(1, 243, 307, 4, 2, 128, at::kBFloat16);
    AttnOptions opts;
    opts.return_lse = true;
    opts.cu_seqlens_q = at::tensor(std::vector<int32_t>{0, 50, 179, 243}, int_cpu).cuda();
    opts.cu_seqlens_k = at::tensor(std::vector<int32_t>{0, 50, 179, 307}, int_cpu).cuda();
    const MaxpoolResult got = attention_with_block_maxpool(x.q, x.k, x.v, block, opts);
    const MaxpoolResult ref = attention_with_block_maxpool(to_cpu64(x.q), to_cpu64(x.k),
                                                           to_cpu64(x.v), block, cpu_options(opts));
    INFO("varlen block " << block);
    CHECK(rel_err(got.out, ref.out) < 1e-2);
    CHECK(max_abs_err(got.lse, ref.lse) < 2e-2);
    REQUIRE(got.block_maxpool.sizes() == ref.block_maxpool.sizes());
    CHECK(max_abs_err(got.block_maxpool, ref.block_maxpool) < 2e-2);
  }
}
