// GPU tests of attention(): the CUDA kernel against the CPU float64 reference and against
// PyTorch SDPA, on fresh random inputs with NaN-poisoned outputs (see cuda_compare_util.h).
// c10's logging header defines a fatal CHECK(); included first, Catch's CHECK replaces it (else
// ATen, included later, would silently turn every CHECK below into a c10 abort-on-failure).
#include <c10/util/Logging.h>
#include "catch.h"
#include "cuda_compare_util.h"
#include "kernels/attention.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cstdlib>
#include <vector>

using namespace seer::kernels;
using namespace seer::kernels::testing;

namespace {

struct Case {
  int64_t B, Sq, Sk, Hq, Hkv, D;
  bool causal;
  double logit_scale;
};

void check_dense_case(const Case& c, at::ScalarType dtype) {
  const QKV x = random_qkv(c.B, c.Sq, c.Sk, c.Hq, c.Hkv, c.D, dtype, c.logit_scale);
  AttnOptions opts;
  opts.causal = c.causal;
  opts.return_lse = true;
  const AttnResult got = attention(x.q, x.k, x.v, opts);
  const AttnResult ref = attention(to_cpu64(x.q), to_cpu64(x.k), to_cpu64(x.v), cpu_options(opts));
  INFO(shape_text(x) << " causal " << c.causal << " logit scale " << c.logit_scale);
  CHECK(rel_err(got.out, ref.out) < 1e-2);
  CHECK(max_abs_err(got.lse, ref.lse) < 2e-2);
}

}  // namespace

TEST_CASE("attention cuda matches the float64 reference", "[cuda][attention]") {
  if (!cuda_ready()) SEER_SKIP("no CUDA device");
  const std::vector<Case> cases = {
      {1, 1, 1, 2, 2, 64, true, 1.0},          // single row
      {1, 37, 37, 4, 1, 64, true, 1.0},        // odd S < tile, GQA 4
      {2, 130, 130, 8, 8, 128, true, 1.0},     // GQA 1, batch 2, S not a multiple of 64
      {1, 200, 200, 8, 1, 128, true, 1.0},     // GQA 8
      {1, 70, 198, 4, 2, 128, true, 1.0},      // chunked queries (bottom-right causal)
      {1, 100, 150, 4, 4, 64, false, 1.0},     // non-causal, Sq != Sk
      {1, 257, 257, 4, 2, 128, true, 8.0},     // large logits
  };
  // The default (W on Hopper for head dim 128) and the mma.sync kernel B it falls back to.
  for (const char* variant : {"", "B"}) {
    if (variant[0] != '\0') setenv("SEER_FLASH_VARIANT", variant, 1);
    for (const Case& c : cases) {
      INFO("SEER_FLASH_VARIANT '" << variant << "'");
      check_dense_case(c, at::kBFloat16);
      check_dense_case(c, at::kHalf);
    }
    unsetenv("SEER_FLASH_VARIANT");
  }
}

TEST_CASE("attention cuda matches SDPA", "[cuda][attention]") {
  if (!cuda_ready()) SEER_SKIP("no CUDA device");
  for (const int64_t S : {64, 333, 1024}) {
    for (const int64_t Hkv : {1, 4, 8}) {
      const QKV x = random_qkv(2, S, S, 8, Hkv, 128, at::kBFloat16);
      const AttnResult got = attention(x.q, x.k, x.v);
      const at::Tensor sdpa = sdpa_causal(x);
      INFO(shape_text(x));
      CHECK(rel_err(got.out, sdpa) < 1e-2);
    }
  }
}

TEST_CASE("attention cuda padded and varlen batches", "[cuda][attention]") {
  if (!cuda_ready()) SEER_SKIP("no CUDA device");
  const auto int_cpu = at::TensorOptions().dtype(at::kInt);
  {  // padded: three sequences of 150 / 77 / 5 valid rows in S = 150
    const QKV x = random_qkv(3, 150, 150, 8, 2, 128, at::kBFloat16);
    AttnOptions opts;
    opts.return_lse = true;
    opts.seq_lens = at::tensor(std::vector<int32_t>{150, 77, 5}, int_cpu).cuda();
    const AttnResult got = attention(x.q, x.k, x.v, opts);
    const AttnResult ref = attention(to_cpu64(x.q), to_cpu64(x.k), to_cpu64(x.v), cpu_options(opts));
    CHECK(rel_err(got.out, ref.out) < 1e-2);
    CHECK(max_abs_err(got.lse, ref.lse) < 2e-2);
    CHECK(got.out.slice(0, 1, 2).slice(1, 77).abs().max().item<float>() == 0.f);
  }
  for (const int64_t D : {64, 128}) {  // varlen, chunked in the last sequence
    const QKV x = random_qkv(1, 50 + 129 + 1 + 40, 50 + 129 + 1 + 104, 4, 1, D, at::kHalf);
    AttnOptions opts;
    opts.return_lse = true;
    opts.cu_seqlens_q = at::tensor(std::vector<int32_t>{0, 50, 179, 180, 220}, int_cpu).cuda();
    opts.cu_seqlens_k = at::tensor(std::vector<int32_t>{0, 50, 179, 180, 284}, int_cpu).cuda();
    const AttnResult got = attention(x.q, x.k, x.v, opts);
    const AttnResult ref = attention(to_cpu64(x.q), to_cpu64(x.k), to_cpu64(x.v), cpu_options(opts));
    INFO("varlen D " << D);
    CHECK(rel_err(got.out, ref.out) < 1e-2);
    CHECK(max_abs_err(got.lse, ref.lse) < 2e-2);
  }
}

TEST_CASE("pool_blocks cuda matches the reference", "[cuda][pool]") {
  if (!cuda_ready()) SEER_SKIP("no CUDA device");
  const std::vector<PoolKind> kinds = {PoolKind::kAvg, PoolKind::kMax, PoolKind::kMin};
  for (const int64_t block : {16, 64}) {
    const at::Tensor x = at::randn({2, 150, 4, 64}, at::TensorOptions().device(at::kCUDA)).to(at::kBFloat16);
    const at::Tensor lens = at::tensor(std::vector<int32_t>{150, 33}, at::TensorOptions().dtype(at::kInt));
    const at::Tensor got = pool_blocks(x, block, kinds, lens.cuda());
    const at::Tensor ref = pool_blocks(to_cpu64(x), block, kinds, lens);
    INFO("block " << block);
    CHECK(rel_err(got, ref) < 1e-2);
  }
}
