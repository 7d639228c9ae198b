// block_index_from_mask(): counts and ascending indices against explicit loops over the mask,
// blocks above the causal diagonal dropped (with the chunk offset), the mask left unchanged.
#include "catch.h"
#include "kernels/attention.h"
#include "naive_util.h"

#include <ATen/ATen.h>

using namespace seer::kernels;

namespace {

// Expected kept lists per (b, h, i) by plain loops.
void check_index(const at::Tensor& mask, const BlockIndex& index, int64_t block, int64_t sq,
                 int64_t sk) {
  const int64_t off = (sk - sq) / block;
  REQUIRE(index.block == block);
  REQUIRE(index.counts.scalar_type() == at::kInt);
  REQUIRE(index.indices.scalar_type() == at::kInt);
  REQUIRE(index.counts.sizes() == mask.sizes().slice(0, 3));
  REQUIRE(index.indices.sizes() == mask.sizes());
  const at::Tensor m = mask.contiguous();
  auto ma = m.accessor<bool, 4>();
  auto ca = index.counts.accessor<int32_t, 3>();
  auto ia = index.indices.accessor<int32_t, 4>();
  for (int64_t b = 0; b < mask.size(0); ++b) {
    for (int64_t h = 0; h < mask.size(1); ++h) {
      for (int64_t i = 0; i < mask.size(2); ++i) {
        std::vector<int32_t> expected;
        for (int64_t j = 0; j < mask.size(3); ++j) {
          if (ma[b][h][i][j] && j <= i + off) expected.push_back(int32_t(j));
        }
        std::vector<int32_t> actual;
        for (int64_t c = 0; c < ca[b][h][i]; ++c) actual.push_back(ia[b][h][i][c]);
        CAPTURE(b, h, i, expected, actual);
        REQUIRE(actual == expected);
        for (int64_t c = 0; c < mask.size(3); ++c) {   // entries past counts stay in range
          REQUIRE(ia[b][h][i][c] >= 0);
          REQUIRE(ia[b][h][i][c] < mask.size(3));
        }
      }
    }
  }
}

}  // namespace

TEST_CASE("block index lists the kept blocks in ascending order", "[kernels][index]") {
  const int64_t S = GENERATE(1, 17, 64, 65, 300);
  const int64_t block = GENERATE(16, 32, 64, 128);
  const double keep = GENERATE(0.0, 0.3, 1.0);
  CAPTURE(S, block, keep);
  seer::kernels::test::init_test_process();
  const int64_t nb = (S + block - 1) / block;
  const at::Tensor mask = at::rand({2, 3, nb, nb}).lt(keep);
  const at::Tensor before = mask.clone();
  const BlockIndex index = block_index_from_mask(mask, block, S, S);
  check_index(mask, index, block, S, S);
  CHECK(at::equal(mask, before));
}

TEST_CASE("block index of chunked queries uses the absolute diagonal", "[kernels][index]") {
  const int64_t block = GENERATE(16, 64);
  const int64_t Sq = GENERATE(1, 100);
  const int64_t cache_blocks = GENERATE(0, 2);
  CAPTURE(block, Sq, cache_blocks);
  seer::kernels::test::init_test_process();
  const int64_t Sk = Sq + cache_blocks * block;
  const int64_t nbq = (Sq + block - 1) / block, nbk = (Sk + block - 1) / block;
  const at::Tensor mask = at::rand({1, 2, nbq, nbk}).lt(0.6);
  check_index(mask, block_index_from_mask(mask, block, Sq, Sk), block, Sq, Sk);
}

TEST_CASE("block index works on non-contiguous masks", "[kernels][index]") {
  seer::kernels::test::init_test_process();
  const at::Tensor mask = at::rand({5, 5, 2, 3}).lt(0.5).permute({2, 3, 0, 1});   // [2, 3, 5, 5]
  check_index(mask, block_index_from_mask(mask, 64, 300, 300), 64, 300, 300);
}

TEST_CASE("block index rejects bad masks", "[kernels][index][validation]") {
  const at::Tensor mask = at::ones({1, 2, 4, 4}, at::kBool);
  REQUIRE_THROWS_WITH(block_index_from_mask(mask, 48, 64, 64),
                      SEER_CONTAINS("block = 48 not supported (expected 16, 32, 64 or 128)"));
  REQUIRE_THROWS_WITH(block_index_from_mask(mask.to(at::kInt), 16, 64, 64),
                      SEER_CONTAINS("mask: dtype Int not supported (expected bool)"));
  REQUIRE_THROWS_WITH(block_index_from_mask(mask, 16, 65, 65),
                      SEER_CONTAINS("mask: expected shape [B, Hq, nbq = 5, nbk = 5]"));
  REQUIRE_THROWS_WITH(block_index_from_mask(mask, 16, 50, 60),
                      SEER_CONTAINS("sk - sq = 60 - 50 = 10 is not a multiple of block = 16"));
  REQUIRE_THROWS_WITH(block_index_from_mask(mask, 16, 64, 48),
                      SEER_CONTAINS("sq = 64, sk = 48; need 0 <= sq <= sk"));
}
