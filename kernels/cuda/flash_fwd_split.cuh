// Split-K block-sparse forward kernel (sparse variant S): one CTA per 64-row query block and
// (batch, query head), 4 warps of 32 rows each. Warps 0-1 ("pair 0") cover the block's 64 rows
// over the even entries of its key-tile list, warps 2-3 ("pair 1") the same 64 rows over the odd
// entries. Each pair runs its own FA2-style pipeline (K double-, V single-buffered, named
// barriers of 64 threads), so the pairs drift freely; at the end they swap half of their
// (row max, row sum, O) through shared memory and each pair merges and writes 32 of the rows.
//
// Why: round 2 (bench/NOTES.md) measured a 32-row warp at ~1.66x the time per key tile of a
// 64-row CTA of four 16-row warps, i.e. ~1.2x the FLOP rate per warp (the dense 128-row kernel's
// shape), but the 128-row kernel needs two query blocks that keep the same key tiles. Here every
// warp has 32 rows and any mask works: the two halves of one block's list run side by side.
// Shared memory: Q 16 KB + 2 x (2 K + 1 V) x 16 KB = 112 KB at D 128, two CTAs per SM.
// Measured (H100, round 3, bench/NOTES.md): random lists at 32k, keep 0.5 / 0.1: 15.9 / 3.75 ms
// against 19.5 / 4.50 ms for the 64-row kernel of 16-row warps (A), same run; at keep 0.5 most
// of the gain is the KV-head-major CTA order below, at 0.1 most is the 32-row warps.
#pragma once

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/flash_fwd.cuh"

#include <stdexcept>
#include <string>

namespace seer::kernels::cuda {

template <int D>
struct SplitShape {
  static constexpr int kThreads = 128;
  static constexpr int kBM = kSparseBlockRows;             // 64 query rows
  static constexpr int kTileBytes = kBM * D * 2;           // one Q, K or V tile (64 x D, 16-bit)
  static constexpr int kPairBytes = 3 * kTileBytes;        // K double-buffered, V single
  static constexpr int kSmemBytes = kTileBytes + 2 * kPairBytes;
  // Half of a pair's O (16 rows x D fp32 per warp) plus its row max / row sum, one float4 per
  // thread and entry, fits in the pair's own K/V region once its loop is over.
  static constexpr int kSwapBytes = (D / 8 + 1) * 64 * 16;
  static_assert(kSwapBytes <= kPairBytes, "merge buffer exceeds the pair's K/V region");
};

// Barrier over the 64 threads of one warp pair (ids 1 and 2; 0 is __syncthreads).
__device__ __forceinline__ void pair_sync(int pair) {
  asm volatile("bar.sync %0, 64;\n" ::"r"(pair + 1) : "memory");
}

template <typename T, int D>
__global__ void __launch_bounds__(128, 1) flash_fwd_split_kernel(const AttnParams p) {
  using Shape = SplitShape<D>;
  using Ops = ElemOps<T>;
  constexpr int kMT = 2;           // 16-row m-tiles per warp
  constexpr int kBM = Shape::kBM;
  constexpr int kBN = kBlockN;
  constexpr int kNT = kBN / 8;
  constexpr int kKD = D / 16;
  constexpr int kDT = D / 8;
  constexpr int kPairThreads = 64;
  constexpr float kLog2e = 1.4426950408889634f;
  constexpr float kLn2 = 0.6931471805599453f;

  extern __shared__ __align__(128) unsigned char smem[];
  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int pair = warp >> 1;        // which half of the key list
  const int ptid = tid & 63;         // thread inside the pair
  const int warp_row0 = (warp & 1) * 32;
  const int g = lane >> 2;
  const int q4 = lane & 3;
  const uint32_t sQ = smem_addr(smem);
  const uint32_t sK0 = sQ + Shape::kTileBytes + pair * Shape::kPairBytes;
  const uint32_t sV = sK0 + 2 * Shape::kTileBytes;

  // CTA order, grid.x = head_count * n_q per batch entry (grid.y): KV-head-major, i.e. all query
  // blocks of the query heads of one KV head (heaviest causal blocks first) before the next KV
  // head, so the ~264 CTAs resident at once share one KV head's K/V in L2 even when their lists
  // are unrelated (at 128k one KV head is 64 MB of K/V, all eight 512 MB, the H100's L2 50 MB).
  // Measured against the other kernels' order (the heads of one query block side by side), H100:
  // -14% / -19% time at keep 0.5, 32k / 128k; -4% / -17% at keep 0.1 (bench/NOTES.md, round 3).
  const CtaBlock cta = kv_head_major_block(p, (p.sq + kBM - 1) / kBM, blockIdx.x);
  const int tile = cta.qtile, h = cta.h;
  const int b = blockIdx.y;
  const SeqSpan span = seq_span(p, b);
  const int m0 = tile * kBM;
  if (m0 >= span.rows_to_write) return;
  const int off = span.sk - span.sq;   // bottom-right causal alignment
  const int hkv = h / (p.hq / p.hkv);

  const T* q_base = static_cast<const T*>(p.q) + b * p.q_batch_stride +
                    (span.q_row0 + m0) * p.q_row_stride + h * p.q_head_stride;
  const T* k_base = static_cast<const T*>(p.k) + b * p.k_batch_stride +
                    span.k_row0 * p.k_row_stride + hkv * p.k_head_stride;
  const T* v_base = static_cast<const T*>(p.v) + b * p.v_batch_stride +
                    span.k_row0 * p.v_row_stride + hkv * p.v_head_stride;

  // The list length, this pair's first two entries (read speculatively, clamped into the row)
  // and, for the hybrid, the pair's choice are independent loads: one round trip before the first
  // copies instead of three.
  int n_tiles = 0;
  const int32_t* tile_list = p.tile_indices;
  int kt = 0, kt_next = 0;
  if (m0 < span.sq && p.n_ktiles > 0) {
    const int64_t row_id = (static_cast<int64_t>(b) * p.hq + h) * p.n_qtiles + tile;
    tile_list = p.tile_indices + row_id * p.n_ktiles;
    n_tiles = p.tile_counts[row_id];
    kt = __ldg(tile_list + min(pair, p.n_ktiles - 1));
    kt_next = __ldg(tile_list + min(pair + 2, p.n_ktiles - 1));
  }
  // Hybrid (variant H): this launch runs the pairs of query blocks the plan kernel left to the
  // 64-row kernels (pair_mode 2); the others leave before any copy.
  if (p.pair_mode != 0) {
    const int64_t pair_id = (static_cast<int64_t>(b) * p.hq + h) * ((p.n_qtiles + 1) / 2) + (tile >> 1);
    if ((p.pair_choice[pair_id] != 0) != (p.pair_mode == 1)) return;
  }
  const int n_mine = (n_tiles - pair + 1) / 2;   // list entries pair, pair + 2, ...
  auto tile_at = [&](int j) -> int { return __ldg(tile_list + 2 * j + pair); };

  // ---- prologue: Q (all threads; groups Q, K_0, V_0 committed one by one) ---------------------
  const int q_valid = max(0, min(kBM, span.sq - m0));
  load_tile_async<kBM, D, Shape::kThreads>(sQ, q_base, p.q_row_stride, q_valid, tid);
  cp_async_commit();
  if (n_mine > 0) {
    const int valid = min(kBN, span.sk - kt * kBN);
    load_tile_async<kBN, D, kPairThreads>(sK0, k_base + kt * kBN * p.k_row_stride, p.k_row_stride,
                                          valid, ptid);
    cp_async_commit();
    load_tile_async<kBN, D, kPairThreads>(sV, v_base + kt * kBN * p.v_row_stride, p.v_row_stride,
                                          valid, ptid);
    cp_async_commit();
  } else {
    cp_async_commit();
    cp_async_commit();
  }
  cp_async_wait<2>();   // this thread's part of Q
  __syncthreads();      // all of Q, for both pairs

  const float scale_log2 = p.scale * kLog2e;
  float o[kMT][kDT][4];
  float row_max[kMT][2];
  float row_sum[kMT][2];   // this thread's columns only; the quad sums them at the end
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
    for (int dt = 0; dt < kDT; ++dt) o[mt][dt][0] = o[mt][dt][1] = o[mt][dt][2] = o[mt][dt][3] = 0.f;
    row_max[mt][0] = row_max[mt][1] = -INFINITY;
    row_sum[mt][0] = row_sum[mt][1] = 0.f;
  }

  // Groups in flight at the top of step j: K_j, V_j; the step adds K_{j+1} before waiting for
  // K_j, and V_{j+1} once every warp of the pair is done with V_j. Empty groups keep the count.
  for (int j = 0; j < n_mine; ++j) {
    const int kt_after = j + 2 < n_mine ? tile_at(j + 2) : 0;
    const int next_valid = j + 1 < n_mine ? min(kBN, span.sk - kt_next * kBN) : 0;
    const uint32_t sK = sK0 + (j & 1) * Shape::kTileBytes;
    if (j + 1 < n_mine)
      load_tile_async<kBN, D, kPairThreads>(sK0 + ((j + 1) & 1) * Shape::kTileBytes,
                                            k_base + kt_next * kBN * p.k_row_stride, p.k_row_stride,
                                            next_valid, ptid);
    cp_async_commit();
    cp_async_wait<2>();   // K_j
    pair_sync(pair);

    // ---- S = Q K^T ----------------------------------------------------------------------------
    float s[kMT][kNT][4];
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
      for (int nt = 0; nt < kNT; ++nt) s[mt][nt][0] = s[mt][nt][1] = s[mt][nt][2] = s[mt][nt][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < kKD; ++kk) {
      uint32_t a[kMT][4];
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt)
        ldmatrix_x4(a[mt], sQ + tile_offset_bytes<D>(warp_row0 + mt * 16 + (lane & 15),
                                                     2 * kk + (lane >> 4)));
#pragma unroll
      for (int np = 0; np < kNT / 2; ++np) {
        uint32_t bk[4];
        ldmatrix_x4(bk, sK + tile_offset_bytes<D>(np * 16 + ((lane >> 4) << 3) + (lane & 7),
                                                  2 * kk + ((lane >> 3) & 1)));
#pragma unroll
        for (int mt = 0; mt < kMT; ++mt) {
          Ops::mma(s[mt][2 * np], a[mt], bk[0], bk[1]);
          Ops::mma(s[mt][2 * np + 1], a[mt], bk[2], bk[3]);
        }
      }
    }

    // ---- causal / sequence-end mask (only tiles that cross the diagonal or the end) ------------
    const int key0 = kt * kBN;
    if (key0 + kBN > span.sk || (p.causal && key0 + kBN - 1 > m0 + warp_row0 + off)) {
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          const int row = m0 + warp_row0 + mt * 16 + g + 8 * r;
#pragma unroll
          for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
            for (int c = 0; c < 2; ++c) {
              const int col = key0 + nt * 8 + 2 * q4 + c;
              if (col >= span.sk || (p.causal && col > row + off)) s[mt][nt][2 * r + c] = -INFINITY;
            }
        }
    }

    // ---- online softmax (row_max in raw-score units, exponent in log2 units) -------------------
    uint32_t pa[kMT][kBN / 16][4];
    float alpha[kMT][2];
    bool rescale = false;
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        float tile_max = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < kNT; ++nt)
          tile_max = fmaxf(tile_max, fmaxf(s[mt][nt][2 * r], s[mt][nt][2 * r + 1]));
        tile_max = quad_max(tile_max);
        const float m_new = fmaxf(row_max[mt][r], tile_max);
        const float m_scaled = m_new == -INFINITY ? 0.f : m_new * scale_log2;
        alpha[mt][r] =
            m_new == row_max[mt][r] ? 1.f : exp2f(fmaf(row_max[mt][r], scale_log2, -m_scaled));
        rescale |= m_new != row_max[mt][r];
        row_max[mt][r] = m_new;
        float sum = 0.f;
#pragma unroll
        for (int nt = 0; nt < kNT; ++nt) {
          s[mt][nt][2 * r] = exp2f(fmaf(s[mt][nt][2 * r], scale_log2, -m_scaled));
          s[mt][nt][2 * r + 1] = exp2f(fmaf(s[mt][nt][2 * r + 1], scale_log2, -m_scaled));
          sum += s[mt][nt][2 * r] + s[mt][nt][2 * r + 1];
        }
        row_sum[mt][r] = row_sum[mt][r] * alpha[mt][r] + sum;
      }
#pragma unroll
      for (int kk = 0; kk < kBN / 16; ++kk) {
        pa[mt][kk][0] = Ops::pack(s[mt][2 * kk][0], s[mt][2 * kk][1]);
        pa[mt][kk][1] = Ops::pack(s[mt][2 * kk][2], s[mt][2 * kk][3]);
        pa[mt][kk][2] = Ops::pack(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
        pa[mt][kk][3] = Ops::pack(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
      }
    }
    if (__any_sync(0xffffffffu, rescale)) {
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
        for (int dt = 0; dt < kDT; ++dt) {
          o[mt][dt][0] *= alpha[mt][0];
          o[mt][dt][1] *= alpha[mt][0];
          o[mt][dt][2] *= alpha[mt][1];
          o[mt][dt][3] *= alpha[mt][1];
        }
    }

    cp_async_wait<1>();   // V_j (K_{j+1} may still be in flight)
    pair_sync(pair);

    // ---- O += P V -----------------------------------------------------------------------------
#pragma unroll
    for (int kk = 0; kk < kBN / 16; ++kk) {
#pragma unroll
      for (int dp = 0; dp < kDT / 2; ++dp) {
        uint32_t bv[4];
        ldmatrix_x4_trans(bv, sV + tile_offset_bytes<D>(kk * 16 + ((lane >> 3) & 1) * 8 + (lane & 7),
                                                        2 * dp + (lane >> 4)));
#pragma unroll
        for (int mt = 0; mt < kMT; ++mt) {
          Ops::mma(o[mt][2 * dp], pa[mt][kk], bv[0], bv[1]);
          Ops::mma(o[mt][2 * dp + 1], pa[mt][kk], bv[2], bv[3]);
        }
      }
    }
    pair_sync(pair);   // both warps are done with V_j (and K_j): V_{j+1} may overwrite it
    if (j + 1 < n_mine)
      load_tile_async<kBN, D, kPairThreads>(sV, v_base + kt_next * kBN * p.v_row_stride,
                                            p.v_row_stride, next_valid, ptid);
    cp_async_commit();
    kt = kt_next;
    kt_next = kt_after;
  }
  cp_async_wait<0>();

  // ---- merge the pairs: pair 0 finishes m-tile 0 of each warp's rows, pair 1 m-tile 1 --------
  // Each pair sends the m-tile it gives away into its own K/V region (idle since its last step's
  // barrier), laid out [entry][thread of the pair] as float4 so a warp's stores are contiguous;
  // the same thread of the other pair holds the same rows and columns.
  {
    float4* mine = reinterpret_cast<float4*>(smem + Shape::kTileBytes + pair * Shape::kPairBytes);
    const float4* theirs =
        reinterpret_cast<const float4*>(smem + Shape::kTileBytes + (pair ^ 1) * Shape::kPairBytes);
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt) {
      if ((mt == 1) == (pair == 0)) {   // the m-tile the other pair finishes
#pragma unroll
        for (int dt = 0; dt < kDT; ++dt)
          mine[dt * 64 + ptid] = make_float4(o[mt][dt][0], o[mt][dt][1], o[mt][dt][2], o[mt][dt][3]);
        mine[kDT * 64 + ptid] = make_float4(row_max[mt][0], row_max[mt][1], row_sum[mt][0], row_sum[mt][1]);
      }
    }
    __syncthreads();
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt) {
      if ((mt == 0) != (pair == 0)) continue;   // finished by the other pair
      const float4 ml = theirs[kDT * 64 + ptid];
      const float m_other[2] = {ml.x, ml.y};
      const float l_other[2] = {ml.z, ml.w};
      float a_mine[2], a_other[2];
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const float m = fmaxf(row_max[mt][r], m_other[r]);
        const float m_scaled = m == -INFINITY ? 0.f : m * scale_log2;
        a_mine[r] = exp2f(fmaf(row_max[mt][r], scale_log2, -m_scaled));    // 0 for -inf
        a_other[r] = exp2f(fmaf(m_other[r], scale_log2, -m_scaled));
        row_sum[mt][r] = row_sum[mt][r] * a_mine[r] + l_other[r] * a_other[r];
        row_max[mt][r] = m;
      }
#pragma unroll
      for (int dt = 0; dt < kDT; ++dt) {
        const float4 x = theirs[dt * 64 + ptid];
        o[mt][dt][0] = o[mt][dt][0] * a_mine[0] + x.x * a_other[0];
        o[mt][dt][1] = o[mt][dt][1] * a_mine[0] + x.y * a_other[0];
        o[mt][dt][2] = o[mt][dt][2] * a_mine[1] + x.z * a_other[1];
        o[mt][dt][3] = o[mt][dt][3] * a_mine[1] + x.w * a_other[1];
      }

      // ---- normalise, write O and lse for this m-tile -------------------------------------------
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const float l = quad_sum(row_sum[mt][r]);
        const float inv = l > 0.f ? 1.f / l : 0.f;
        const float lse2 = l > 0.f ? row_max[mt][r] * scale_log2 + __log2f(l) : -INFINITY;
        const int row = m0 + warp_row0 + mt * 16 + g + 8 * r;
        const bool live = row < span.sq;
        if (row < span.rows_to_write) {
          T* out_row = static_cast<T*>(p.out) + b * p.o_batch_stride +
                       (span.q_row0 + row) * p.o_row_stride + h * p.o_head_stride;
#pragma unroll
          for (int dt = 0; dt < kDT; ++dt) {
            const float x0 = live ? o[mt][dt][2 * r] * inv : 0.f;
            const float x1 = live ? o[mt][dt][2 * r + 1] * inv : 0.f;
            *reinterpret_cast<uint32_t*>(out_row + dt * 8 + 2 * q4) = Ops::pack(x0, x1);
          }
          if (p.lse != nullptr && q4 == 0) {
            p.lse[b * p.lse_batch_stride + h * p.lse_head_stride + span.q_row0 + row] =
                live ? lse2 * kLn2 : -INFINITY;
          }
        }
      }
    }
  }
}

template <typename T, int D>
void launch_fwd_split(const AttnParams& p) {
  using Shape = SplitShape<D>;
  auto* kernel = flash_fwd_split_kernel<T, D>;
  SEER_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       Shape::kSmemBytes));
  const int64_t n_qtiles = (p.sq + Shape::kBM - 1) / Shape::kBM;
  const int64_t ctas = n_qtiles * p.head_count;
  if (ctas == 0 || p.batch == 0) return;
  if (ctas > 0x7fffffff || p.batch > 65535)
    throw std::runtime_error("flash_fwd_split: too many query blocks x heads for the grid");
  const dim3 grid(static_cast<unsigned>(ctas), p.batch);
  kernel<<<grid, Shape::kThreads, Shape::kSmemBytes, static_cast<cudaStream_t>(p.stream)>>>(p);
  SEER_CUDA_CHECK(cudaGetLastError());
}

// Picks dtype x head dim at run time (block-64 tile lists only: no element mask).
inline void launch_fwd_split_typed(const AttnParams& p) {
  const bool bf16 = p.dtype == AttnDtype::kBF16;
  if (p.head_dim == 64) {
    bf16 ? launch_fwd_split<__nv_bfloat16, 64>(p) : launch_fwd_split<__half, 64>(p);
  } else if (p.head_dim == 128) {
    bf16 ? launch_fwd_split<__nv_bfloat16, 128>(p) : launch_fwd_split<__half, 128>(p);
  } else {
    throw std::runtime_error("flash_fwd_split: head dim " + std::to_string(p.head_dim) +
                             " not compiled (64 or 128)");
  }
}

}  // namespace seer::kernels::cuda
