// Helpers of the GPU kernel tests (*_cuda_test.cpp): fresh random inputs on the GPU, the CPU
// float64 reference of the same call, and error measures that fail on NaN.
#pragma once

#include "kernels/attention.h"

#include <ATen/ATen.h>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace seer::kernels::testing {

// Sets SEER_FLASH_VARIANT for a scope, so a test runs a chosen kernel variant (the letters of
// kernels/cuda/launch.h; "" keeps the default), and unsets it however the scope ends.
struct ScopedFlashVariant {
  explicit ScopedFlashVariant(const std::string& v) {
    if (!v.empty()) setenv("SEER_FLASH_VARIANT", v.c_str(), 1);
  }
  ~ScopedFlashVariant() { unsetenv("SEER_FLASH_VARIANT"); }
  ScopedFlashVariant(const ScopedFlashVariant&) = delete;
  ScopedFlashVariant& operator=(const ScopedFlashVariant&) = delete;
};

// Skips the calling test (SEER_SKIP) unless CUDA kernels and a device are there. Also turns on
// output poisoning (SEER_POISON_OUTPUTS=1): every output starts as NaN.
bool cuda_ready();

// The Hopper (wgmma) kernels whose presence the GPU tests check.
enum class HopperKernel { kDense, kMaxpool, kSparse };

// False only on a Hopper GPU where `kernel` would not run (a build without sm_90a code, which
// would silently test the portable fallback instead): tests REQUIRE it before comparing.
bool hopper_kernel_present(HopperKernel kernel);

struct QKV {
  at::Tensor q, k, v;   // CUDA, dtype as asked
};

// q [B, Sq, Hq, D], k/v [B, Sk, Hkv, D], normal(0, 1) * logit_scale for q (large logits when > 1).
QKV random_qkv(int64_t B, int64_t Sq, int64_t Sk, int64_t Hq, int64_t Hkv, int64_t D,
               at::ScalarType dtype, double logit_scale = 1.0);

// The same options on CPU float64 (reference_float64); length tensors moved to the CPU.
AttnOptions cpu_options(const AttnOptions& opts);
at::Tensor to_cpu64(const at::Tensor& t);

// ||a - b|| / ||b|| in float64 over finite b entries; +inf when a has a NaN/inf where b is finite.
double rel_err(const at::Tensor& a, const at::Tensor& b);
// max |a - b| over entries where b is finite, +inf on NaN in a; both -inf counts as equal.
double max_abs_err(const at::Tensor& a, const at::Tensor& b);

// Random block mask [B, Hq, nbq, nbk] with the causal diagonal kept, keep fraction `keep`.
at::Tensor random_block_mask(int64_t B, int64_t Hq, int64_t sq, int64_t sk, int64_t block,
                             double keep, uint64_t seed);

std::string shape_text(const QKV& x);

// PyTorch SDPA's causal attention on x (a real implementation nobody here wrote), [B, Sq, Hq, D]:
// SDPA takes [B, H, S, D] and K/V heads repeated to Hq.
at::Tensor sdpa_causal(const QKV& x);

}  // namespace seer::kernels::testing
