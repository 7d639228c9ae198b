// The per-thread softmax and output steps of a Hopper consumer warpgroup, shared by the dense
// kernel W (flash_fwd_wgmma.cuh) and the sparse kernel X (flash_fwd_wgmma_sparse_pair.cuh).
// Both hold a 64 x 128 S (and O) accumulator of wgmma m64n128: each thread owns two rows (r = 0:
// row0, r = 1: row0 + 8) and, per 8 columns j, the four values s[4 j + 2 r + e], e = 0, 1 (the
// mma.sync C layout per warp); the four threads of a quad share a row.
#pragma once

#include "kernels/cuda/flash_fwd.cuh"     // SeqSpan
#include "kernels/cuda/mma_utils.cuh"     // quad_sum
#include "kernels/cuda/wgmma_utils.cuh"   // sw128_offset
#include "kernels/params.h"

#include <cstdint>

namespace seer::kernels::cuda {

// Sets to -inf this thread's entries of S in the kCols columns from column 8 j0, which hold keys
// key0, key0 + 1, ...: the keys past the sequence (>= sk), with `causal` those after the row's
// diagonal (> row + off, bottom-right aligned), and with `all` every one of them.
template <int kTotalCols, int kCols>
__device__ __forceinline__ void mask_keys(float (&s)[kTotalCols / 2], int j0, int key0, int row0,
                                          int q4, int sk, bool causal, int off, bool all) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = row0 + 8 * r;
#pragma unroll
    for (int j = 0; j < kCols / 8; ++j) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int col = key0 + j * 8 + 2 * q4 + e;
        if (all || col >= sk || (causal && col > row + off)) s[4 * (j0 + j) + 2 * r + e] = -INFINITY;
      }
    }
  }
}

// This thread's max of row r of S over kCols columns (before the quad reduction).
template <int kCols>
__device__ __forceinline__ float thread_row_max(const float (&s)[kCols / 2], int r) {
  float m = -INFINITY;
#pragma unroll
  for (int j = 0; j < kCols / 8; ++j) m = fmaxf(m, fmaxf(s[4 * j + 2 * r], s[4 * j + 2 * r + 1]));
  return m;
}

// The online-softmax update of row r with the (quad-reduced) max of the new tile: exponentiates
// the row's S in place (log2 domain, scale folded in), sets alpha, the factor that rescales O, and
// updates the running max and sum. Returns whether the max moved (O needs the rescale).
template <int kCols>
__device__ __forceinline__ bool online_softmax_row(float (&s)[kCols / 2], int r, float tile_max,
                                                   float scale_log2, float& row_max,
                                                   float& row_sum, float& alpha) {
  const float m_new = fmaxf(row_max, tile_max);
  const float m_scaled = m_new == -INFINITY ? 0.f : m_new * scale_log2;
  alpha = m_new == row_max ? 1.f : exp2f(fmaf(row_max, scale_log2, -m_scaled));
  const bool moved = m_new != row_max;
  row_max = m_new;
  float sum = 0.f;
#pragma unroll
  for (int j = 0; j < kCols / 8; ++j) {
    s[4 * j + 2 * r] = exp2f(fmaf(s[4 * j + 2 * r], scale_log2, -m_scaled));
    s[4 * j + 2 * r + 1] = exp2f(fmaf(s[4 * j + 2 * r + 1], scale_log2, -m_scaled));
    sum += s[4 * j + 2 * r] + s[4 * j + 2 * r + 1];
  }
  row_sum = row_sum * alpha + sum;
  return moved;
}

// P (the exponentiated S) as wgmma's register A operand: one fragment of 4 x 2 halves per 16 keys.
template <typename Ops, int kCols>
__device__ __forceinline__ void pack_p(const float (&s)[kCols / 2], uint32_t (&pf)[kCols / 16][4]) {
#pragma unroll
  for (int kk = 0; kk < kCols / 16; ++kk) {
    pf[kk][0] = Ops::pack(s[8 * kk + 0], s[8 * kk + 1]);
    pf[kk][1] = Ops::pack(s[8 * kk + 2], s[8 * kk + 3]);
    pf[kk][2] = Ops::pack(s[8 * kk + 4], s[8 * kk + 5]);
    pf[kk][3] = Ops::pack(s[8 * kk + 6], s[8 * kk + 7]);
  }
}

// O *= alpha per row (after a P V product has landed).
__device__ __forceinline__ void rescale_o(float (&o)[64], const float (&alpha)[2]) {
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    o[4 * j + 0] *= alpha[0];
    o[4 * j + 1] *= alpha[0];
    o[4 * j + 2] *= alpha[1];
    o[4 * j + 3] *= alpha[1];
  }
}

// Zeroes rows [first_row, end_row) of a 128-byte-swizzled V tile of kRows rows x 128 (the rows
// of keys past the sequence: their P is 0, but 0 * NaN padding would be NaN), spread over
// `n_threads` threads; the caller fences the async proxy and syncs the warpgroup(s) after.
template <int kRows>
__device__ __forceinline__ void zero_swizzled_rows(uint32_t tile, int first_row, int end_row,
                                                   int tid, int n_threads) {
  for (int c = tid; c < (end_row - first_row) * 16; c += n_threads) {
    asm volatile("st.shared.v4.u32 [%0], {%1, %1, %1, %1};\n" ::"r"(
                     tile + sw128_offset<kRows>(first_row + c / 16, c % 16)),
                 "r"(0)
                 : "memory");
  }
}

// The epilogue of one consumer thread: O / l and the lse (natural log) of its two rows, as the
// mma.sync kernels write them (rows without keys: O = 0, lse = -inf; rows past span.sq but
// before span.rows_to_write: zeros). lse2 gets each row's log2-domain lse (max-pool needs it).
template <typename T, typename Ops>
__device__ __forceinline__ void store_o_lse(const AttnParams& p, const SeqSpan& span, int b, int h,
                                            int row0, int q4, const float (&o)[64],
                                            const float (&row_max)[2], const float (&row_sum)[2],
                                            float scale_log2, float (&lse2)[2]) {
  constexpr float kLn2 = 0.6931471805599453f;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float l = quad_sum(row_sum[r]);
    const float inv = l > 0.f ? 1.f / l : 0.f;
    lse2[r] = l > 0.f ? row_max[r] * scale_log2 + __log2f(l) : -INFINITY;
    const int row = row0 + 8 * r;
    const bool live = row < span.sq;
    if (row < span.rows_to_write) {
      T* out_row = static_cast<T*>(p.out) + b * p.o_batch_stride +
                   (span.q_row0 + row) * p.o_row_stride + h * p.o_head_stride;
#pragma unroll
      for (int j = 0; j < 16; ++j) {
        const float x0 = live ? o[4 * j + 2 * r] * inv : 0.f;
        const float x1 = live ? o[4 * j + 2 * r + 1] * inv : 0.f;
        *reinterpret_cast<uint32_t*>(out_row + j * 8 + 2 * q4) = Ops::pack(x0, x1);
      }
      if (p.lse != nullptr && q4 == 0) {
        p.lse[b * p.lse_batch_stride + h * p.lse_head_stride + span.q_row0 + row] =
            live ? lse2[r] * kLn2 : -INFINITY;
      }
    }
  }
}

}  // namespace seer::kernels::cuda
