// GPU tests of block_sparse_attention(): against the CPU float64 reference for blocks 16..128,
// empty rows (zero output, lse -inf), all-kept masks (== dense attention), chunked queries.
// c10's logging header defines a fatal CHECK(); included first, Catch's CHECK replaces it (else
// ATen, included later, would silently turn every CHECK below into a c10 abort-on-failure).
#include <c10/util/Logging.h>
#include "catch.h"
#include "cuda_compare_util.h"
#include "kernels/attention.h"

#include <ATen/ATen.h>

#include <cstdlib>
#include <string>
#include <vector>

using namespace seer::kernels;
using namespace seer::kernels::testing;

namespace {

void check_sparse(const QKV& x, const at::Tensor& mask_cpu, int64_t block, double tol = 1e-2) {
  const int64_t sq = x.q.size(1), sk = x.k.size(1);
  const BlockIndex idx_gpu = block_index_from_mask(mask_cpu.cuda(), block, sq, sk);
  const BlockIndex idx_cpu = block_index_from_mask(mask_cpu, block, sq, sk);
  AttnOptions opts;
  opts.return_lse = true;
  const AttnResult got = block_sparse_attention(x.q, x.k, x.v, idx_gpu, opts);
  const AttnResult ref =
      block_sparse_attention(to_cpu64(x.q), to_cpu64(x.k), to_cpu64(x.v), idx_cpu, cpu_options(opts));
  INFO(shape_text(x) << " block " << block << " kept " << mask_cpu.sum().item<int64_t>());
  CHECK(rel_err(got.out, ref.out) < tol);
  CHECK(max_abs_err(got.lse, ref.lse) < 2e-2);
}

}  // namespace

TEST_CASE("block_sparse_attention cuda matches the float64 reference", "[cuda][sparse]") {
  if (!cuda_ready()) SEER_SKIP("no CUDA device");
  const std::string variant = GENERATE(as<std::string>{}, "H", "B", "A", "S", "X");
  const ScopedFlashVariant env(variant);
  INFO("variant " << variant);
  uint64_t seed = 1;
  for (const int64_t block : {16, 32, 64, 128}) {
    for (const double keep : {0.3, 0.7}) {
      const QKV a = random_qkv(2, 300, 300, 8, 2, 128, at::kBFloat16);
      check_sparse(a, random_block_mask(2, 8, 300, 300, block, keep, seed++), block);
      const QKV b = random_qkv(1, 45, 45, 4, 4, 64, at::kHalf);   // S < 64
      check_sparse(b, random_block_mask(1, 4, 45, 45, block, keep, seed++), block);
      const QKV c = random_qkv(1, 256, 512, 8, 1, 128, at::kBFloat16);   // chunked, GQA 8
      check_sparse(c, random_block_mask(1, 8, 256, 512, block, keep, seed++), block);
    }
  }
}

TEST_CASE("block_sparse_attention cuda empty rows give zero and -inf", "[cuda][sparse]") {
  if (!cuda_ready()) SEER_SKIP("no CUDA device");
  const std::string variant = GENERATE(as<std::string>{}, "H", "B", "A", "S", "X");
  const ScopedFlashVariant env(variant);
  INFO("variant " << variant);
  for (const int64_t block : {16, 64}) {
    const QKV x = random_qkv(1, 200, 200, 4, 2, 128, at::kBFloat16);
    at::Tensor mask = random_block_mask(1, 4, 200, 200, block, 0.5, 7);
    mask.select(1, 1).zero_();          // head 1: nothing kept at all
    mask.select(2, 1).fill_(false);     // query block 1 of every head empty
    check_sparse(x, mask, block);
    const BlockIndex idx = block_index_from_mask(mask.cuda(), block, 200, 200);
    AttnOptions opts;
    opts.return_lse = true;
    const AttnResult got = block_sparse_attention(x.q, x.k, x.v, idx, opts);
    CHECK(got.out.select(2, 1).abs().max().item<float>() == 0.f);
    CHECK(at::isinf(got.lse.select(1, 1)).all().item<bool>());
  }
}

TEST_CASE("block_sparse_attention cuda with all blocks kept equals dense", "[cuda][sparse]") {
  if (!cuda_ready()) SEER_SKIP("no CUDA device");
  const std::string variant = GENERATE(as<std::string>{}, "H", "B", "A", "S", "X");
  const ScopedFlashVariant env(variant);
  INFO("variant " << variant);
  for (const int64_t block : {32, 64, 128}) {
    const QKV x = random_qkv(2, 333, 333, 8, 2, 128, at::kBFloat16);
    const int64_t nb = (333 + block - 1) / block;
    const at::Tensor mask = at::ones({2, 8, nb, nb}, at::TensorOptions().dtype(at::kBool));
    const BlockIndex idx = block_index_from_mask(mask.cuda(), block, 333, 333);
    const AttnResult sparse = block_sparse_attention(x.q, x.k, x.v, idx);
    const AttnResult dense = attention(x.q, x.k, x.v);
    INFO("block " << block);
    CHECK(rel_err(sparse.out, dense.out) < 5e-3);
  }
}

TEST_CASE("block_sparse_attention cuda padded and varlen batches", "[cuda][sparse]") {
  if (!cuda_ready()) SEER_SKIP("no CUDA device");
  const std::string variant = GENERATE(as<std::string>{}, "H", "B", "A", "S", "X");
  const ScopedFlashVariant env(variant);
  INFO("variant " << variant);
  const auto int_cpu = at::TensorOptions().dtype(at::kInt);
  for (const int64_t block : {32, 64}) {
    {  // padded: lengths 200 and 90 in S = 200
      const QKV x = random_qkv(2, 200, 200, 4, 2, 128, at::kBFloat16);
      const at::Tensor mask = random_block_mask(2, 4, 200, 200, block, 0.5, 11 + block);
      AttnOptions opts;
      opts.return_lse = true;
      opts.seq_lens = at::tensor(std::vector<int32_t>{200, 90}, int_cpu);
      const AttnResult got =
          block_sparse_attention(x.q, x.k, x.v, block_index_from_mask(mask.cuda(), block, 200, 200), opts);
      const AttnResult ref = block_sparse_attention(to_cpu64(x.q), to_cpu64(x.k), to_cpu64(x.v),
                                                    block_index_from_mask(mask, block, 200, 200),
                                                    cpu_options(opts));
      INFO("padded block " << block);
      CHECK(rel_err(got.out, ref.out) < 1e-2);
      CHECK(max_abs_err(got.lse, ref.lse) < 2e-2);
    }
    {  // varlen: 50 rows, 129 rows (sequences aligned at their own starts)
      const QKV x = random_qkv(1, 179, 179, 4, 1, 64, at::kHalf);
      const at::Tensor mask = random_block_mask(2, 4, 129, 129, block, 0.5, 21 + block);
      AttnOptions opts;
      opts.return_lse = true;
      opts.cu_seqlens_q = at::tensor(std::vector<int32_t>{0, 50, 179}, int_cpu);
      opts.cu_seqlens_k = opts.cu_seqlens_q;
      const AttnResult got =
          block_sparse_attention(x.q, x.k, x.v, block_index_from_mask(mask.cuda(), block, 129, 129), opts);
      const AttnResult ref = block_sparse_attention(to_cpu64(x.q), to_cpu64(x.k), to_cpu64(x.v),
                                                    block_index_from_mask(mask, block, 129, 129),
                                                    cpu_options(opts));
      INFO("varlen block " << block);
      CHECK(rel_err(got.out, ref.out) < 1e-2);
      CHECK(max_abs_err(got.lse, ref.lse) < 2e-2);
    }
  }
}

TEST_CASE("block_sparse_attention cuda pairs split between the 128- and 64-row kernels",
          "[cuda][sparse]") {
  if (!cuda_ready()) SEER_SKIP("no CUDA device");
  // Half of the (head, pair) cells get identical lists for both query blocks (the 128-row
  // kernel takes them), the rest stay random (the 64-row kernel); odd block count, GQA 4.
  const std::string variant = GENERATE(as<std::string>{}, "H", "B", "A", "S", "X");
  const ScopedFlashVariant env(variant);
  INFO("variant " << variant);
  for (const double keep : {0.3, 0.8}) {
    const QKV x = random_qkv(1, 600, 600, 8, 2, 128, at::kBFloat16);
    at::Tensor mask = random_block_mask(1, 8, 600, 600, 64, keep, 99);
    const int64_t nb = mask.size(2);
    for (int64_t h = 0; h < 8; ++h)
      for (int64_t t = 0; 2 * t + 1 < nb; ++t)
        if ((h + t) % 2 == 0) mask[0][h][2 * t + 1].copy_(mask[0][h][2 * t]);
    check_sparse(x, mask, 64);
  }
}

TEST_CASE("block_sparse_attention cuda long lists, diagonal-only rows and large logits",
          "[cuda][sparse]") {
  if (!cuda_ready()) SEER_SKIP("no CUDA device");
  // Long lists of both parities (variant S gives the odd entries to a second warp pair and
  // merges the two halves), lists of one tile (that pair has none), and logits large enough
  // that the two halves' row maxima differ by a lot before the merge.
  const std::string variant = GENERATE(as<std::string>{}, "H", "B", "A", "S", "X");
  const ScopedFlashVariant env(variant);
  INFO("variant " << variant);
  const QKV x = random_qkv(1, 1000, 1000, 8, 2, 128, at::kBFloat16, 4.0);
  for (const double keep : {0.0, 0.4, 1.0}) {
    at::Tensor mask = random_block_mask(1, 8, 1000, 1000, 64, keep, 123);
    check_sparse(x, mask, 64);
  }
  const QKV y = random_qkv(2, 777, 777, 4, 4, 64, at::kHalf);   // D 64, batch 2, odd S
  check_sparse(y, random_block_mask(2, 4, 777, 777, 64, 0.6, 321), 64);
}
