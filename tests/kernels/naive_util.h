// Deliberately naive float64 references for the kernel tests: the full S x S score matrix per
// (sequence, head), softmax with explicit masks, G by explicit loops over b x b tiles. Nothing
// here shares code with kernels/ref/, so a bug there cannot hide in both.
#pragma once

#include "catch.h"
#include "kernels/attention.h"

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

// Substring matcher for REQUIRE_THROWS_WITH under Catch2 v2 (CI) and v3 (GPU machine).
#ifdef SEER_CATCH_V3
#define SEER_CONTAINS(text) Catch::Matchers::ContainsSubstring(text)
#else
#define SEER_CONTAINS(text) Catch::Contains(text)
#endif

namespace seer::kernels::test {

struct NaiveResult {
  at::Tensor out;   // [B, Sq, Hq, D] float64, zero rows outside every sequence
  at::Tensor lse;   // [B, Hq, Sq] float64, -inf for empty rows
  at::Tensor G;     // [nseq, Hq, nbq, nbk] float64 when block > 0
};

// opts: scale, causal, seq_lens / cu_seqlens as in kernels/attention.h.
NaiveResult naive_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const AttnOptions& opts);

// Also G (DESIGN.md §1) for block size `block`.
NaiveResult naive_attention_maxpool(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                    const AttnOptions& opts, int64_t block);

// Block-sparse: keep [nseq, Hq, nbq, nbk] bool; a key is visible only when its block is kept for
// the query's block (and causally visible).
NaiveResult naive_sparse_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                   const AttnOptions& opts, int64_t block, const at::Tensor& keep);

// Per-block avg / max / min by explicit loops over rows, float64.
at::Tensor naive_pool_blocks(const at::Tensor& x, int64_t block,
                             const std::vector<PoolKind>& kinds,
                             const std::vector<int64_t>& lens);

// Once per process: seeds ATen's generator from Catch's --rng-seed (each run draws fresh inputs; a
// failing run replays with the seed Catch prints) and pins ATen to one thread. The test shapes
// are tiny, and OpenMP teams on a busy 2-core CI machine made the binary 10x slower (8 min
// instead of 55 s wall, 3 min instead of 15 s CPU, measured on the shared dev machine).
void init_test_process();

// Random q [B, Sq, Hq, D], k/v [B, Sk, Hkv, D] in dtype (standard normal; q times q_scale).
struct Qkv {
  at::Tensor q, k, v;
};
Qkv random_qkv(int64_t B, int64_t Sq, int64_t Sk, int64_t Hq, int64_t Hkv, int64_t D,
               at::ScalarType dtype, double q_scale = 1.0);

// Unit roundoff of a floating dtype (2^-24 for float32): the largest relative error of rounding.
double unit_roundoff(at::ScalarType dtype);

// max |round_to(dtype, x) - x|: the error of the float64 reference itself stored in dtype.
double rounding_error(const at::Tensor& reference, at::ScalarType dtype);

// Requires |actual - expected| <= atol + rtol * |expected| everywhere (both cast to float64).
// Infinite values must match exactly (lse of empty rows). On failure reports the worst index,
// both values and the max error.
void require_close(const at::Tensor& actual, const at::Tensor& expected, double atol,
                   double rtol, const std::string& what);

}  // namespace seer::kernels::test
