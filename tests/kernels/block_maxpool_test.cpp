// attention_with_block_maxpool() against the naive float64 G of DESIGN.md §1 (explicit max over
// each b x b tile of the full softmax map, rows renormalised): block sizes 16-128, lengths that
// are not multiples of the block or shorter than it, GQA, chunked queries, padded and varlen
// batches, large logits, half-precision inputs.
#include "catch.h"
#include "kernels/attention.h"
#include "naive_util.h"

#include <ATen/ATen.h>

using namespace seer::kernels;
using seer::kernels::test::naive_attention_maxpool;
using seer::kernels::test::random_qkv;
using seer::kernels::test::require_close;
using seer::kernels::test::rounding_error;

namespace {

// G's own invariants: zero above the causal diagonal, each row sums to 1 or is all zero.
void check_g_structure(const at::Tensor& G, int64_t nbq_offset) {
  const int64_t nbq = G.size(2), nbk = G.size(3);
  const at::Tensor rows = at::arange(nbq).unsqueeze(1) + nbq_offset;
  const at::Tensor above = at::arange(nbk).unsqueeze(0) > rows;   // [nbq, nbk]
  CHECK(G.masked_select(above.expand_as(G)).abs().sum().item<double>() == 0.0);
  const at::Tensor sums = G.sum(3);
  const at::Tensor ok = (sums - 1).abs().lt(1e-5).logical_or(sums.eq(0));
  CHECK(ok.all().item<bool>());
}

void check_maxpool(const test::Qkv& x, int64_t block, AttnOptions opts, double g_tol32 = 2e-6,
                   double out_atol32 = 2e-5) {
  opts.return_lse = true;
  const auto naive = naive_attention_maxpool(x.q, x.k, x.v, opts, block);
  opts.reference_float64 = true;
  const MaxpoolResult r64 = attention_with_block_maxpool(x.q, x.k, x.v, block, opts);
  REQUIRE(r64.block_maxpool.scalar_type() == at::kFloat);
  require_close(r64.block_maxpool, naive.G, 1e-7, 1e-6, "G, float64 accumulation");
  // Accumulated in float64, the only error left is rounding the output to q's dtype.
  require_close(r64.out, naive.out, 1e-12, 2 * test::unit_roundoff(x.q.scalar_type()),
                "out, float64 accumulation");
  require_close(r64.lse, naive.lse, 1e-5, 1e-6, "lse, float64 accumulation");
  opts.reference_float64 = false;
  const MaxpoolResult r32 = attention_with_block_maxpool(x.q, x.k, x.v, block, opts);
  require_close(r32.block_maxpool, naive.G, g_tol32, 1e-5, "G, float32 accumulation");
  require_close(r32.out, naive.out, out_atol32, 1e-4, "out, float32 accumulation");
}

}  // namespace

TEST_CASE("block maxpool matches the naive G", "[kernels][maxpool]") {
  const int64_t S = GENERATE(1, 17, 63, 64, 65, 200, 300);
  const int64_t block = GENERATE(16, 32, 64, 128);
  const int64_t g = GENERATE(1, 4);
  CAPTURE(S, block, g);
  const auto x = random_qkv(2, S, S, 2 * g, 2, 64, at::kFloat);
  check_maxpool(x, block, {});
  const auto r = attention_with_block_maxpool(x.q, x.k, x.v, block, {});
  const int64_t nb = (S + block - 1) / block;
  REQUIRE(r.block_maxpool.sizes() == at::IntArrayRef({2, 2 * g, nb, nb}));
  check_g_structure(r.block_maxpool, 0);
}

TEST_CASE("block maxpool with chunked queries puts key blocks on the absolute grid",
          "[kernels][maxpool]") {
  const int64_t block = GENERATE(16, 64);
  const int64_t Sq = GENERATE(1, 40, 130);
  const int64_t cache_blocks = GENERATE(1, 3);
  CAPTURE(block, Sq, cache_blocks);
  const int64_t Sk = Sq + cache_blocks * block;
  const auto x = random_qkv(1, Sq, Sk, 4, 1, 40, at::kFloat);
  check_maxpool(x, block, {});
  const auto r = attention_with_block_maxpool(x.q, x.k, x.v, block, {});
  REQUIRE(r.block_maxpool.size(2) == (Sq + block - 1) / block);
  REQUIRE(r.block_maxpool.size(3) == (Sk + block - 1) / block);
  check_g_structure(r.block_maxpool, cache_blocks);
}

TEST_CASE("block maxpool on padded batches leaves padding blocks empty", "[kernels][maxpool]") {
  const int64_t block = GENERATE(16, 64);
  CAPTURE(block);
  const auto x = random_qkv(3, 150, 150, 4, 2, 64, at::kFloat);
  AttnOptions opts;
  opts.seq_lens = at::tensor({150, 70, 0}, at::kInt);
  check_maxpool(x, block, opts);
  const auto r = attention_with_block_maxpool(x.q, x.k, x.v, block, opts);
  const int64_t first_empty = (70 + block - 1) / block;
  CHECK(r.block_maxpool[1].narrow(1, first_empty, r.block_maxpool.size(2) - first_empty)
            .abs().sum().item<double>() == 0.0);
  CHECK(r.block_maxpool[2].abs().sum().item<double>() == 0.0);
}

TEST_CASE("block maxpool on varlen batches is per sequence", "[kernels][maxpool]") {
  const int64_t block = GENERATE(32, 128);
  CAPTURE(block);
  // Queries 33, 200, 5; keys add caches of 0, 1, 2 blocks.
  const std::vector<int> cq = {0, 33, 233, 238};
  const std::vector<int> ck = {0, 33, 233 + int(block), 238 + 3 * int(block)};
  const auto x = random_qkv(1, cq.back(), ck.back(), 8, 2, 64, at::kFloat);
  AttnOptions opts;
  opts.cu_seqlens_q = at::tensor(cq, at::kInt);
  opts.cu_seqlens_k = at::tensor(ck, at::kInt);
  check_maxpool(x, block, opts);
}

TEST_CASE("block maxpool without the causal mask", "[kernels][maxpool]") {
  AttnOptions opts;
  opts.causal = false;
  check_maxpool(random_qkv(2, 100, 100, 2, 1, 64, at::kFloat), 32, opts);
}

TEST_CASE("block maxpool with large logits (q x 20)", "[kernels][maxpool]") {
  const int64_t block = GENERATE(16, 64);
  CAPTURE(block);
  // float32 rounding of exp(s - max) grows with the logits (up to ~80 here): see attention_test
  check_maxpool(random_qkv(1, 200, 200, 4, 1, 64, at::kFloat, 20.0), block, {}, 2e-5, 1e-4);
}

TEST_CASE("block maxpool on half-precision inputs", "[kernels][maxpool]") {
  const auto dtype = GENERATE(at::kBFloat16, at::kHalf);
  CAPTURE(dtype);
  const auto x = random_qkv(1, 130, 130, 4, 2, 64, dtype);
  const auto naive = naive_attention_maxpool(x.q, x.k, x.v, {}, 32);
  const auto r = attention_with_block_maxpool(x.q, x.k, x.v, 32, {});
  require_close(r.out, naive.out, 2 * rounding_error(naive.out, dtype), 0.0, "out");
  // G is float32; the only error is float32 accumulation on the same (rounded) inputs.
  require_close(r.block_maxpool, naive.G, 2e-6, 1e-5, "G");
}
