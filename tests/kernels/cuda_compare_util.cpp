// Helpers of the GPU kernel tests; see cuda_compare_util.h.
#include "cuda_compare_util.h"

#include <fmt/format.h>

#include <ATen/CPUGeneratorImpl.h>
#if defined(SEER_WITH_CUDA)
#include <ATen/cuda/CUDAContext.h>
#include "kernels/cuda/launch.h"
#endif

#include <cmath>
#include <cstdlib>
#include <limits>

namespace seer::kernels::testing {

bool cuda_ready() {
  if (!cuda_kernels_available()) return false;
  setenv("SEER_POISON_OUTPUTS", "1", 1);
  return true;
}

bool hopper_kernel_present(HopperKernel kernel) {
#if defined(SEER_WITH_CUDA)
  if (at::cuda::getCurrentDeviceProperties()->major != 9) return true;
  switch (kernel) {
    case HopperKernel::kDense: return cuda::attention_dense_wgmma_ready();
    case HopperKernel::kMaxpool: return cuda::attention_maxpool_wgmma_ready();
    case HopperKernel::kSparse: return cuda::attention_sparse_wgmma_pair_ready();
  }
  return false;
#else
  (void)kernel;
  return true;
#endif
}

QKV random_qkv(int64_t B, int64_t Sq, int64_t Sk, int64_t Hq, int64_t Hkv, int64_t D,
               at::ScalarType dtype, double logit_scale) {
  const auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kFloat);
  QKV x;
  x.q = (at::randn({B, Sq, Hq, D}, opts) * logit_scale).to(dtype);
  x.k = at::randn({B, Sk, Hkv, D}, opts).to(dtype);
  x.v = at::randn({B, Sk, Hkv, D}, opts).to(dtype);
  return x;
}

AttnOptions cpu_options(const AttnOptions& opts) {
  AttnOptions c = opts;
  c.reference_float64 = true;
  if (c.seq_lens) c.seq_lens = c.seq_lens->cpu();
  if (c.cu_seqlens_q) c.cu_seqlens_q = c.cu_seqlens_q->cpu();
  if (c.cu_seqlens_k) c.cu_seqlens_k = c.cu_seqlens_k->cpu();
  return c;
}

at::Tensor to_cpu64(const at::Tensor& t) { return t.to(at::kCPU).to(at::kDouble); }

double rel_err(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor x = to_cpu64(a), y = to_cpu64(b);
  const at::Tensor finite = at::isfinite(y);
  if (!at::isfinite(x).logical_or(finite.logical_not()).all().item<bool>())
    return std::numeric_limits<double>::infinity();
  const at::Tensor d = at::where(finite, x - y, 0.0);
  const double den = at::where(finite, y, 0.0).norm().item<double>();
  const double num = d.norm().item<double>();
  return den > 0 ? num / den : num;
}

double max_abs_err(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor x = to_cpu64(a), y = to_cpu64(b);
  const at::Tensor same_inf = at::isinf(x).logical_and(at::isinf(y)).logical_and(x == y);
  if (at::isnan(x).any().item<bool>()) return std::numeric_limits<double>::infinity();
  const at::Tensor d = at::where(same_inf, 0.0, (x - y).abs());
  if (d.numel() == 0) return 0.0;
  const double m = d.max().item<double>();
  return std::isnan(m) ? std::numeric_limits<double>::infinity() : m;
}

at::Tensor random_block_mask(int64_t B, int64_t Hq, int64_t sq, int64_t sk, int64_t block,
                             double keep, uint64_t seed) {
  const int64_t nbq = (sq + block - 1) / block, nbk = (sk + block - 1) / block;
  at::Generator gen = at::detail::createCPUGenerator(seed);
  at::Tensor mask = at::rand({B, Hq, nbq, nbk}, gen, at::TensorOptions().dtype(at::kFloat)) < keep;
  const int64_t diag = (sk - sq) / block;
  for (int64_t i = 0; i < nbq; ++i)
    if (i + diag < nbk) mask.select(2, i).select(2, i + diag).fill_(true);
  return mask;
}

std::string shape_text(const QKV& x) {
  return fmt::format("q [{}, {}, {}, {}] k [{}, {}, {}, {}] {}", x.q.size(0), x.q.size(1),
                     x.q.size(2), x.q.size(3), x.k.size(0), x.k.size(1), x.k.size(2),
                     x.k.size(3), c10::toString(x.q.scalar_type()));
}

at::Tensor sdpa_causal(const QKV& x) {
  const int64_t g = x.q.size(2) / x.k.size(2);
  return at::scaled_dot_product_attention(x.q.transpose(1, 2),
                                          x.k.repeat_interleave(g, 2).transpose(1, 2),
                                          x.v.repeat_interleave(g, 2).transpose(1, 2),
                                          std::nullopt, 0.0, /*is_causal=*/true)
      .transpose(1, 2);
}

}  // namespace seer::kernels::testing
