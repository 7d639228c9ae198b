// block_sparse_attention() against the naive float64 reference with the same block mask (keys of
// dropped blocks invisible): random masks with and without the diagonal, all-kept masks (must
// equal dense attention), empty rows (zero output, lse -inf), chunked queries, padded and varlen
// batches, large logits, half-precision inputs.
#include "catch.h"
#include "kernels/attention.h"
#include "naive_util.h"

#include <ATen/ATen.h>

using namespace seer::kernels;
using seer::kernels::test::naive_sparse_attention;
using seer::kernels::test::random_qkv;
using seer::kernels::test::require_close;
using seer::kernels::test::rounding_error;

namespace {

int64_t nblocks(int64_t s, int64_t b) { return (s + b - 1) / b; }

// Random block mask [B, Hq, nbq, nbk] keeping each block with probability keep; with_diagonal also
// keeps each query block's own (absolute) diagonal block.
at::Tensor random_mask(int64_t B, int64_t Hq, int64_t sq, int64_t sk, int64_t block, double keep,
                       bool with_diagonal) {
  seer::kernels::test::init_test_process();
  const int64_t nbq = nblocks(sq, block), nbk = nblocks(sk, block);
  at::Tensor mask = at::rand({B, Hq, nbq, nbk}).lt(keep);
  if (with_diagonal) {
    const at::Tensor diag = at::arange(nbk).unsqueeze(0) == at::arange(nbq).unsqueeze(1) + (sk - sq) / block;
    mask.logical_or_(diag);
  }
  return mask;
}

void check_sparse(const test::Qkv& x, const at::Tensor& mask, int64_t block, int64_t sq,
                  int64_t sk, AttnOptions opts,
                  double out_atol32 = 2e-5) {
  const BlockIndex index = block_index_from_mask(mask, block, sq, sk);
  opts.return_lse = true;
  const auto naive = naive_sparse_attention(x.q, x.k, x.v, opts, block, mask);
  opts.reference_float64 = true;
  const AttnResult r64 = block_sparse_attention(x.q, x.k, x.v, index, opts);
  // Accumulated in float64, the only error left is rounding the output to q's dtype.
  require_close(r64.out, naive.out, 1e-12, 2 * test::unit_roundoff(x.q.scalar_type()),
                "out, float64 accumulation");
  require_close(r64.lse, naive.lse, 1e-5, 1e-6, "lse, float64 accumulation");
  opts.reference_float64 = false;
  const AttnResult r32 = block_sparse_attention(x.q, x.k, x.v, index, opts);
  require_close(r32.out, naive.out, out_atol32, 1e-4, "out, float32 accumulation");
  require_close(r32.lse, naive.lse, 2e-5, 1e-5, "lse, float32 accumulation");
}

}  // namespace

TEST_CASE("block sparse attention matches the naive reference on random masks",
          "[kernels][sparse]") {
  const int64_t S = GENERATE(1, 17, 63, 64, 65, 200, 300);
  const int64_t block = GENERATE(16, 32, 64, 128);
  const int64_t g = GENERATE(1, 4);
  CAPTURE(S, block, g);
  const auto x = random_qkv(2, S, S, 2 * g, 2, 64, at::kFloat);
  SECTION("diagonal kept") { check_sparse(x, random_mask(2, 2 * g, S, S, block, 0.4, true), block, S, S, {}); }
  SECTION("diagonal not forced (some rows empty)") {
    check_sparse(x, random_mask(2, 2 * g, S, S, block, 0.4, false), block, S, S, {});
  }
}

TEST_CASE("block sparse attention with every block kept equals dense attention",
          "[kernels][sparse]") {
  const int64_t S = GENERATE(17, 65, 300);
  const int64_t block = GENERATE(16, 64, 128);
  const int64_t g = GENERATE(1, 8);
  CAPTURE(S, block, g);
  const auto x = random_qkv(1, S, S, g, 1, 40, at::kFloat);
  const at::Tensor mask = at::ones({1, g, nblocks(S, block), nblocks(S, block)}, at::kBool);
  AttnOptions opts;
  opts.return_lse = true;
  const AttnResult dense = attention(x.q, x.k, x.v, opts);
  const AttnResult sparse = block_sparse_attention(x.q, x.k, x.v, block_index_from_mask(mask, block, S, S), opts);
  require_close(sparse.out, dense.out, 1e-6, 1e-5, "sparse vs dense out");
  require_close(sparse.lse, dense.lse, 1e-6, 1e-6, "sparse vs dense lse");
  check_sparse(x, mask, block, S, S, {});
}

TEST_CASE("block sparse attention outputs zero and lse -inf for empty rows", "[kernels][sparse]") {
  const int64_t block = GENERATE(16, 64);
  CAPTURE(block);
  const int64_t S = 3 * block + 5;
  const auto x = random_qkv(1, S, S, 2, 1, 64, at::kFloat);
  at::Tensor mask = at::ones({1, 2, 4, 4}, at::kBool);
  mask[0][0][1].fill_(false);   // head 0, query block 1: nothing kept
  mask[0][1].fill_(false);      // head 1: nothing at all
  AttnOptions opts;
  opts.return_lse = true;
  const AttnResult r = block_sparse_attention(x.q, x.k, x.v, block_index_from_mask(mask, block, S, S), opts);
  CHECK(r.out[0].narrow(0, block, block).select(1, 0).abs().max().item<double>() == 0.0);
  CHECK(r.out[0].select(1, 1).abs().max().item<double>() == 0.0);
  CHECK(r.lse[0][1].isneginf().all().item<bool>());
  CHECK(r.lse[0][0].narrow(0, block, block).isneginf().all().item<bool>());
  CHECK(r.lse[0][0].narrow(0, 0, block).isfinite().all().item<bool>());
  check_sparse(x, mask, block, S, S, {});
}

TEST_CASE("block sparse attention with chunked queries", "[kernels][sparse]") {
  const int64_t block = GENERATE(16, 64);
  const int64_t Sq = GENERATE(1, 70, 130);
  const int64_t cache_blocks = GENERATE(1, 3);
  CAPTURE(block, Sq, cache_blocks);
  const int64_t Sk = Sq + cache_blocks * block;
  const auto x = random_qkv(2, Sq, Sk, 8, 2, 64, at::kFloat);
  check_sparse(x, random_mask(2, 8, Sq, Sk, block, 0.5, true), block, Sq, Sk, {});
}

TEST_CASE("block sparse attention on padded and varlen batches", "[kernels][sparse]") {
  const int64_t block = GENERATE(16, 32, 128);
  const int64_t g = GENERATE(1, 4);
  CAPTURE(block, g);
  SECTION("padded") {
    const auto x = random_qkv(3, 150, 150, 2 * g, 2, 64, at::kFloat);
    AttnOptions opts;
    opts.seq_lens = at::tensor({150, 33, 0}, at::kLong);
    check_sparse(x, random_mask(3, 2 * g, 150, 150, block, 0.5, true), block, 150, 150, opts);
  }
  SECTION("varlen") {
    const std::vector<int> cu = {0, 40, 40, 240, 241};
    const auto x = random_qkv(1, 241, 241, 2 * g, 2, 64, at::kFloat);
    AttnOptions opts;
    opts.cu_seqlens_q = at::tensor(cu, at::kInt);
    opts.cu_seqlens_k = at::tensor(cu, at::kInt);
    check_sparse(x, random_mask(4, 2 * g, 200, 200, block, 0.5, true), block, 200, 200, opts);
  }
}

TEST_CASE("block sparse attention with large logits (q x 20)", "[kernels][sparse]") {
  const auto x = random_qkv(1, 200, 200, 4, 1, 64, at::kFloat, 20.0);
  // float32 rounding of exp(s - max) grows with the logits (up to ~80 here): see attention_test
  check_sparse(x, random_mask(1, 4, 200, 200, 32, 0.5, true), 32, 200, 200, {}, 1e-4);
}

TEST_CASE("block sparse attention on half-precision inputs", "[kernels][sparse]") {
  const auto dtype = GENERATE(at::kBFloat16, at::kHalf);
  CAPTURE(dtype);
  const auto x = random_qkv(2, 150, 150, 8, 2, 64, dtype);
  const at::Tensor mask = random_mask(2, 8, 150, 150, 32, 0.5, true);
  const auto naive = naive_sparse_attention(x.q, x.k, x.v, {}, 32, mask);
  const AttnResult r = block_sparse_attention(x.q, x.k, x.v, block_index_from_mask(mask, 32, 150, 150), {});
  REQUIRE(r.out.scalar_type() == dtype);
  require_close(r.out, naive.out, 2 * rounding_error(naive.out, dtype), 0.0, "out");
}

TEST_CASE("block sparse attention rejects a malformed index", "[kernels][sparse]") {
  const auto x = random_qkv(1, 64, 64, 2, 1, 64, at::kFloat);
  BlockIndex index = block_index_from_mask(at::ones({1, 2, 4, 4}, at::kBool), 16, 64, 64);
  SECTION("index out of range") {
    index.indices[0][0][3][0] = 4;
    REQUIRE_THROWS_WITH(block_sparse_attention(x.q, x.k, x.v, index, {}),
                        SEER_CONTAINS("blocks.indices[0, 0, 3, 0] = 4"));
  }
  SECTION("not ascending") {
    index.indices[0][1][2][1] = 0;
    REQUIRE_THROWS_WITH(block_sparse_attention(x.q, x.k, x.v, index, {}),
                        SEER_CONTAINS("blocks.indices[0, 1, 2, 1] = 0: expected ascending"));
  }
  SECTION("count too large") {
    index.counts[0][0][0] = 5;
    REQUIRE_THROWS_WITH(block_sparse_attention(x.q, x.k, x.v, index, {}),
                        SEER_CONTAINS("blocks.counts[0, 0, 0] = 5 outside [0, nbk = 4]"));
  }
}
