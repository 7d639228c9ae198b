// pool_blocks(): avg / max / min per block (ceil mode) against explicit loops in float64, kinds
// concatenated in the given order, padded batches limited by seq_lens, every input dtype; and the
// single-pass full-block path the GPU takes (pool_full_blocks).
#include "catch.h"
#include "kernels/attention.h"
#include "kernels/pool_full_blocks.h"
#include "naive_util.h"

#include <ATen/ATen.h>

using namespace seer::kernels;
using seer::kernels::test::naive_pool_blocks;
using seer::kernels::test::require_close;
using seer::kernels::test::rounding_error;

TEST_CASE("pool_blocks matches explicit loops", "[kernels][pool]") {
  const int64_t S = GENERATE(1, 17, 63, 64, 65, 300);
  const int64_t block = GENERATE(16, 32, 64, 128);
  CAPTURE(S, block);
  seer::kernels::test::init_test_process();
  const at::Tensor x = at::randn({2, S, 3, 40});
  const std::vector<PoolKind> kinds = {PoolKind::kMax, PoolKind::kAvg, PoolKind::kMin};
  const at::Tensor out = pool_blocks(x, block, kinds);
  REQUIRE(out.sizes() == at::IntArrayRef({2, (S + block - 1) / block, 3, 120}));
  require_close(out, naive_pool_blocks(x, block, kinds, {S, S}), 1e-6, 1e-6, "pooled");
}

TEST_CASE("pool_blocks keeps the order of the kinds", "[kernels][pool]") {
  seer::kernels::test::init_test_process();
  const at::Tensor x = at::randn({1, 70, 2, 64});
  const std::vector<PoolKind> kinds = {PoolKind::kMin, PoolKind::kAvg};
  const at::Tensor out = pool_blocks(x, 32, kinds);
  require_close(out.narrow(3, 0, 64), pool_blocks(x, 32, {PoolKind::kMin}), 0, 0, "min first");
  require_close(out.narrow(3, 64, 64), pool_blocks(x, 32, {PoolKind::kAvg}), 0, 0, "avg second");
  require_close(out, naive_pool_blocks(x, 32, kinds, {70}), 1e-6, 1e-6, "pooled");
}

TEST_CASE("pool_blocks on padded batches pools only valid rows", "[kernels][pool]") {
  const int64_t block = GENERATE(16, 64);
  const auto lens_dtype = GENERATE(at::kInt, at::kLong);
  CAPTURE(block, lens_dtype);
  seer::kernels::test::init_test_process();
  // Padding rows hold huge values: any leak into max / avg shows.
  at::Tensor x = at::randn({3, 150, 2, 64});
  x[1].narrow(0, 70, 80).fill_(1e6);
  x[2].fill_(1e6);
  const std::vector<PoolKind> kinds = {PoolKind::kAvg, PoolKind::kMax, PoolKind::kMin};
  const at::Tensor out = pool_blocks(x, block, kinds, at::tensor({150, 70, 0}, at::kLong).to(lens_dtype));
  require_close(out, naive_pool_blocks(x, block, kinds, {150, 70, 0}), 1e-6, 1e-6, "pooled");
  CHECK(out[2].abs().max().item<double>() == 0.0);
}

TEST_CASE("pool_blocks on every input dtype", "[kernels][pool]") {
  const auto dtype = GENERATE(at::kFloat, at::kBFloat16, at::kHalf, at::kDouble);
  CAPTURE(dtype);
  seer::kernels::test::init_test_process();
  const at::Tensor x = at::randn({2, 100, 2, 64}, at::kDouble).to(dtype);
  const std::vector<PoolKind> kinds = {PoolKind::kAvg, PoolKind::kMax, PoolKind::kMin};
  const at::Tensor out = pool_blocks(x, 32, kinds);
  REQUIRE(out.scalar_type() == dtype);
  const at::Tensor expected = naive_pool_blocks(x, 32, kinds, {100, 100});
  const double tol = dtype == at::kDouble ? 1e-12 : 2 * rounding_error(expected, dtype) + 1e-6;
  require_close(out, expected, tol, 0.0, "pooled");
}

TEST_CASE("pool_full_blocks (the GPU's single-pass path) matches the reference on full blocks",
          "[kernels][pool]") {
  const auto dtype = GENERATE(at::kFloat, at::kBFloat16, at::kHalf);
  const int64_t block = GENERATE(16, 64, 128);
  const int64_t nb = GENERATE(1, 3, 7);
  CAPTURE(dtype, block, nb);
  seer::kernels::test::init_test_process();
  const int64_t S = nb * block;
  const at::Tensor x = (at::randn({2, S, 3, 64}, at::kDouble) * 4).to(dtype);
  const std::vector<PoolKind> kinds = {PoolKind::kAvg, PoolKind::kMax, PoolKind::kMin};
  const auto fast = pool_full_blocks(x, block, kinds, std::nullopt);
  REQUIRE(fast.has_value());
  REQUIRE(fast->scalar_type() == dtype);
  const at::Tensor expected = naive_pool_blocks(x, block, kinds, {S, S});
  REQUIRE(fast->sizes() == expected.sizes());
  // max / min are values of x: exact. The average rounds once to the dtype.
  const int64_t D = 64;
  CHECK(at::equal(fast->narrow(3, D, 2 * D), pool_blocks(x, block, kinds).narrow(3, D, 2 * D)));
  const double tol = dtype == at::kFloat ? 1e-6 : 2 * rounding_error(expected, dtype) + 1e-6;
  require_close(*fast, expected, tol, tol, "pooled");
}

TEST_CASE("pool_full_blocks declines partial blocks and padded batches", "[kernels][pool]") {
  const at::Tensor x = at::randn({2, 100, 2, 64});
  const std::vector<PoolKind> kinds = {PoolKind::kAvg};
  CHECK_FALSE(pool_full_blocks(x, 64, kinds, std::nullopt).has_value());     // 100 = 64 + 36
  CHECK_FALSE(pool_full_blocks(x.narrow(1, 0, 64), 64, kinds, at::tensor({64, 50})).has_value());
  CHECK_FALSE(pool_full_blocks(x.narrow(1, 0, 0), 64, kinds, std::nullopt).has_value());
  CHECK(pool_full_blocks(x.narrow(1, 0, 64), 64, kinds, std::nullopt).has_value());
}
