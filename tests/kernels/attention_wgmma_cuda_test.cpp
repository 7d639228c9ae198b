// GPU tests of the Hopper wgmma dense kernel (SEER_FLASH_VARIANT=W, the dense default on Hopper;
// kernels/cuda/flash_fwd_wgmma.cuh) against the CPU float64 reference, PyTorch SDPA and variant B, on fresh
// random inputs with NaN-poisoned outputs. Head dim 64 cases check the fall back to B.
// c10's logging header defines a fatal CHECK(); included first, Catch's CHECK replaces it (else
// ATen, included later, would silently turn every CHECK below into a c10 abort-on-failure).
#include <c10/util/Logging.h>
#include "catch.h"
#include "cuda_compare_util.h"
#include "kernels/attention.h"

#include <ATen/ATen.h>

#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

using namespace seer::kernels;
using namespace seer::kernels::testing;

namespace {

struct Case {
  int64_t B, Sq, Sk, Hq, Hkv, D;
  bool causal;
  double logit_scale;
};

void check_case(const Case& c, at::ScalarType dtype) {
  const QKV x = random_qkv(c.B, c.Sq, c.Sk, c.Hq, c.Hkv, c.D, dtype, c.logit_scale);
  AttnOptions opts;
  opts.causal = c.causal;
  opts.return_lse = true;
  AttnResult got, b;
  {
    const ScopedFlashVariant w("W");
    got = attention(x.q, x.k, x.v, opts);
  }
  {
    const ScopedFlashVariant v("B");
    b = attention(x.q, x.k, x.v, opts);
  }
  const AttnResult ref = attention(to_cpu64(x.q), to_cpu64(x.k), to_cpu64(x.v), cpu_options(opts));
  INFO(shape_text(x) << " causal " << c.causal << " logit scale " << c.logit_scale << " dtype "
                     << (dtype == at::kBFloat16 ? "bf16" : "fp16"));
  CHECK(rel_err(got.out, ref.out) < 1e-2);
  CHECK(max_abs_err(got.lse, ref.lse) < 2e-2);
  // Same math as B up to the order of the fp32 sums: far closer than to the reference.
  CHECK(rel_err(got.out, b.out) < 1e-2);
  CHECK(max_abs_err(got.lse, b.lse) < 1e-3);
}

}  // namespace

TEST_CASE("attention cuda variant W matches the float64 reference and B", "[cuda][attention][wgmma]") {
  if (!cuda_ready()) SEER_SKIP("no CUDA device");
  REQUIRE(hopper_kernel_present(HopperKernel::kDense));
  const std::vector<Case> cases = {
      {1, 1, 1, 2, 2, 128, true, 1.0},         // single row
      {1, 37, 37, 4, 1, 128, true, 1.0},       // odd S < tile, GQA 4
      {2, 130, 130, 8, 8, 128, true, 1.0},     // GQA 1, batch 2, S not a multiple of 64
      {1, 200, 200, 8, 1, 128, true, 1.0},     // GQA 8
      {1, 70, 198, 4, 2, 128, true, 1.0},      // chunked queries (bottom-right causal)
      {1, 100, 150, 4, 4, 128, false, 1.0},    // non-causal, Sq != Sk
      {1, 150, 100, 4, 2, 128, false, 1.0},    // non-causal, Sq > Sk
      {1, 257, 257, 4, 2, 128, true, 8.0},     // large logits
      {2, 777, 777, 4, 1, 128, true, 1.0},     // many key tiles, partial last tile
      {1, 37, 37, 4, 1, 64, true, 1.0},        // head dim 64: falls back to B
  };
  for (const Case& c : cases) {
    check_case(c, at::kBFloat16);
    check_case(c, at::kHalf);
  }
}

TEST_CASE("attention cuda variant W matches SDPA", "[cuda][attention][wgmma]") {
  if (!cuda_ready()) SEER_SKIP("no CUDA device");
  REQUIRE(hopper_kernel_present(HopperKernel::kDense));
  const ScopedFlashVariant w("W");
  for (const int64_t S : {64, 333, 1024, 2049}) {
    for (const int64_t Hkv : {1, 4, 8}) {
      const QKV x = random_qkv(2, S, S, 8, Hkv, 128, at::kBFloat16);
      const AttnResult got = attention(x.q, x.k, x.v);
      const at::Tensor sdpa = sdpa_causal(x);
      INFO(shape_text(x));
      CHECK(rel_err(got.out, sdpa) < 1e-2);
    }
  }
}

TEST_CASE("attention cuda variant W padded and varlen batches", "[cuda][attention][wgmma]") {
  if (!cuda_ready()) SEER_SKIP("no CUDA device");
  REQUIRE(hopper_kernel_present(HopperKernel::kDense));
  const ScopedFlashVariant w("W");
  const auto int_cpu = at::TensorOptions().dtype(at::kInt);
  for (const at::ScalarType dtype : {at::kBFloat16, at::kHalf}) {
    {  // padded: three sequences of 300 / 77 / 5 valid rows in S = 300
      const QKV x = random_qkv(3, 300, 300, 8, 2, 128, dtype);
      AttnOptions opts;
      opts.return_lse = true;
      opts.seq_lens = at::tensor(std::vector<int32_t>{300, 77, 5}, int_cpu).cuda();
      const AttnResult got = attention(x.q, x.k, x.v, opts);
      const AttnResult ref = attention(to_cpu64(x.q), to_cpu64(x.k), to_cpu64(x.v), cpu_options(opts));
      CHECK(rel_err(got.out, ref.out) < 1e-2);
      CHECK(max_abs_err(got.lse, ref.lse) < 2e-2);
      CHECK(got.out.slice(0, 1, 2).slice(1, 77).abs().max().item<float>() == 0.f);
      CHECK(got.out.slice(0, 2, 3).slice(1, 5).abs().max().item<float>() == 0.f);
    }
    {  // padded, NaN in the padding rows of q, k and v: P = 0 there must not make NaN
      QKV x = random_qkv(2, 200, 200, 4, 1, 128, dtype);
      AttnOptions opts;
      opts.return_lse = true;
      opts.seq_lens = at::tensor(std::vector<int32_t>{200, 77}, int_cpu).cuda();
      const AttnResult ref = attention(to_cpu64(x.q), to_cpu64(x.k), to_cpu64(x.v), cpu_options(opts));
      const double nan = std::numeric_limits<double>::quiet_NaN();
      x.q.slice(0, 1, 2).slice(1, 77).fill_(nan);
      x.k.slice(0, 1, 2).slice(1, 77).fill_(nan);
      x.v.slice(0, 1, 2).slice(1, 77).fill_(nan);
      const AttnResult got = attention(x.q, x.k, x.v, opts);
      CHECK(rel_err(got.out, ref.out) < 1e-2);
      CHECK(max_abs_err(got.lse, ref.lse) < 2e-2);
      CHECK(got.out.slice(0, 1, 2).slice(1, 77).abs().max().item<float>() == 0.f);
    }
    {  // varlen, chunked in the last sequence
      const QKV x = random_qkv(1, 50 + 129 + 1 + 40 + 260, 50 + 129 + 1 + 104 + 260, 4, 1, 128, dtype);
      AttnOptions opts;
      opts.return_lse = true;
      opts.cu_seqlens_q = at::tensor(std::vector<int32_t>{0, 50, 179, 180, 220, 480}, int_cpu).cuda();
      opts.cu_seqlens_k = at::tensor(std::vector<int32_t>{0, 50, 179, 180, 284, 544}, int_cpu).cuda();
      const AttnResult got = attention(x.q, x.k, x.v, opts);
      const AttnResult ref = attention(to_cpu64(x.q), to_cpu64(x.k), to_cpu64(x.v), cpu_options(opts));
      CHECK(rel_err(got.out, ref.out) < 1e-2);
      CHECK(max_abs_err(got.lse, ref.lse) < 2e-2);
    }
  }
}
