// attention() on the CPU reference against the naive float64 reference (naive_util.h): odd
// lengths, GQA, head dims 40/64/128, chunked queries, non-causal, padded and varlen batches,
// large logits, and bf16/fp16 inputs.
#include "catch.h"
#include "kernels/attention.h"
#include "naive_util.h"

#include <ATen/ATen.h>

#include <algorithm>

using namespace seer::kernels;
using seer::kernels::test::naive_attention;
using seer::kernels::test::random_qkv;
using seer::kernels::test::require_close;
using seer::kernels::test::rounding_error;

namespace {

// float64 accumulation must agree to rounding; float32 accumulation to ~1e-5 of O(1) outputs.
// `logit_scale`: how much larger than N(0, 1) the logits are. Float32 rounding of exp(s - max)
// grows with |s| (relative error ~ |s| x 6e-8 per term), so the float32 tolerance grows with it:
// q x 20 gives logits up to ~80 and errors up to ~5e-5 over a few hundred keys.
void check_both_accumulations(const test::Qkv& x, AttnOptions opts, double logit_scale = 1.0) {
  opts.return_lse = true;
  const auto naive = naive_attention(x.q, x.k, x.v, opts);
  opts.reference_float64 = true;
  const AttnResult r64 = attention(x.q, x.k, x.v, opts);
  // Accumulated in float64, the only error left is rounding the output to q's dtype.
  require_close(r64.out, naive.out, 1e-12, 2 * test::unit_roundoff(x.q.scalar_type()),
                "out, float64 accumulation");
  require_close(r64.lse, naive.lse, 1e-5, 1e-6, "lse (float32), float64 accumulation");
  opts.reference_float64 = false;
  const AttnResult r32 = attention(x.q, x.k, x.v, opts);
  CHECK(r32.out.scalar_type() == x.q.scalar_type());
  CHECK(r32.lse.scalar_type() == at::kFloat);
  const double f32_atol = 2e-5 * std::max(1.0, logit_scale / 4.0);
  require_close(r32.out, naive.out, f32_atol, 1e-4, "out, float32 accumulation");
  require_close(r32.lse, naive.lse, 2e-5, 1e-5, "lse, float32 accumulation");
}

}  // namespace

TEST_CASE("attention matches the naive reference", "[kernels][attention]") {
  const int64_t S = GENERATE(1, 17, 63, 64, 65, 200, 300);
  const int64_t g = GENERATE(1, 4, 8);
  const int64_t D = GENERATE(40, 64, 128);
  CAPTURE(S, g, D);
  const auto x = random_qkv(2, S, S, 2 * g, 2, D, at::kFloat);
  check_both_accumulations(x, {});
}

TEST_CASE("attention with chunked queries attends to the whole cache", "[kernels][attention]") {
  const int64_t Sq = GENERATE(1, 17, 64, 129);
  const int64_t extra = GENERATE(0, 37, 128, 300);
  const int64_t g = GENERATE(1, 4);
  CAPTURE(Sq, extra, g);
  const auto x = random_qkv(2, Sq, Sq + extra, 2 * g, 2, 64, at::kFloat);
  check_both_accumulations(x, {});
}

TEST_CASE("attention without the causal mask", "[kernels][attention]") {
  const int64_t Sq = GENERATE(1, 65, 300);
  const int64_t Sk = GENERATE(1, 64, 257);
  CAPTURE(Sq, Sk);
  AttnOptions opts;
  opts.causal = false;
  opts.scale = 0.3;
  check_both_accumulations(random_qkv(1, Sq, Sk, 4, 1, 64, at::kFloat), opts);
}

TEST_CASE("attention on padded batches zeroes the padding rows", "[kernels][attention]") {
  const int64_t g = GENERATE(1, 4);
  const auto lens_dtype = GENERATE(at::kInt, at::kLong);
  CAPTURE(g, lens_dtype);
  const auto x = random_qkv(4, 200, 200, 2 * g, 2, 64, at::kFloat);
  AttnOptions opts;
  opts.seq_lens = at::tensor({200, 65, 1, 0}, at::kLong).to(lens_dtype);
  check_both_accumulations(x, opts);
  const AttnResult r = attention(x.q, x.k, x.v, opts);
  CHECK(r.out[1].narrow(0, 65, 135).abs().max().item<double>() == 0.0);
  CHECK(r.out[3].abs().max().item<double>() == 0.0);
}

TEST_CASE("attention on varlen batches keeps sequences apart", "[kernels][attention]") {
  const bool chunked = GENERATE(false, true);
  const int64_t g = GENERATE(1, 8);
  CAPTURE(chunked, g);
  // Lengths 17, 0, 130, 64 (queries); chunked: keys add a cache of 0, 5, 200, 64.
  const std::vector<int> ql = {17, 0, 130, 64};
  const std::vector<int> extra = chunked ? std::vector<int>{0, 5, 200, 64} : std::vector<int>{0, 0, 0, 0};
  std::vector<int> cq = {0}, ck = {0};
  for (size_t i = 0; i < ql.size(); ++i) {
    cq.push_back(cq.back() + ql[i]);
    ck.push_back(ck.back() + ql[i] + extra[i]);
  }
  const auto x = random_qkv(1, cq.back(), ck.back(), 2 * g, 2, 64, at::kFloat);
  AttnOptions opts;
  opts.cu_seqlens_q = at::tensor(cq, at::kInt);
  opts.cu_seqlens_k = at::tensor(ck, at::kInt);
  check_both_accumulations(x, opts);
}

TEST_CASE("attention with large logits (q x 20)", "[kernels][attention]") {
  const int64_t S = GENERATE(65, 300);
  const int64_t g = GENERATE(1, 4);
  CAPTURE(S, g);
  check_both_accumulations(random_qkv(2, S, S, 2 * g, 2, 64, at::kFloat, 20.0), {}, 20.0);
}

TEST_CASE("attention on half-precision inputs is within 2x the output rounding",
          "[kernels][attention]") {
  const auto dtype = GENERATE(at::kBFloat16, at::kHalf);
  const int64_t S = GENERATE(17, 200);
  const double q_scale = GENERATE(1.0, 20.0);
  CAPTURE(dtype, S, q_scale);
  const auto x = random_qkv(2, S, S, 8, 2, 64, dtype, q_scale);
  AttnOptions opts;
  opts.return_lse = true;
  const auto naive = naive_attention(x.q, x.k, x.v, opts);   // on the same rounded inputs
  const AttnResult r = attention(x.q, x.k, x.v, opts);
  REQUIRE(r.out.scalar_type() == dtype);
  const double tol = 2 * rounding_error(naive.out, dtype);
  CAPTURE(tol);
  require_close(r.out, naive.out, tol, 0.0, "out vs float64 on the same inputs");
  require_close(r.lse, naive.lse, 2e-5, 1e-5, "lse");
}

TEST_CASE("attention on float64 inputs keeps float64 precision", "[kernels][attention]") {
  const auto x = random_qkv(1, 130, 130, 4, 2, 40, at::kDouble);
  AttnOptions opts;
  const auto naive = naive_attention(x.q, x.k, x.v, opts);
  const AttnResult r = attention(x.q, x.k, x.v, opts);
  REQUIRE(r.out.scalar_type() == at::kDouble);
  require_close(r.out, naive.out, 1e-12, 1e-12, "out");
}

TEST_CASE("attention accepts strided views with a contiguous head dim", "[kernels][attention]") {
  // q, k, v as views of one packed [B, S, 3 * H, D] projection, as a model produces them.
  seer::kernels::test::init_test_process();
  const at::Tensor qkv = at::randn({2, 70, 12, 64});
  const at::Tensor q = qkv.narrow(2, 0, 8), k = qkv.narrow(2, 8, 2), v = qkv.narrow(2, 10, 2);
  const auto naive = naive_attention(q, k, v, {});
  require_close(attention(q, k, v, {}).out, naive.out, 2e-5, 1e-4, "out of strided views");
}
