// Dense attention forward for Hopper (sm_90a) on warpgroup MMA: variant 'W' of the dense path
// (head dim 128, bf16 / fp16, causal or not, GQA, padded and varlen batches, optional lse),
// writing exactly what variant B (flash_fwd.cuh) writes.
//
// One CTA = 2 consumer warpgroups (warps 0-7) + 1 producer warpgroup (warps 8-11, of which one
// thread works; 24 registers each, leaving the consumers 240) = 128 query rows of
// one (batch, query head); warpgroup wg owns rows 64 wg .. 64 wg + 63, warp w of it rows
// 16 w .. 16 w + 15 of those. Key tiles are 128 keys. Q, K and V sit in shared memory in the
// 128-byte-swizzled layout of wgmma_utils.cuh, which is what the copy engine (TMA) writes with
// CU_TENSOR_MAP_SWIZZLE_128B and 64-element boxes. The producer's one thread loads Q and
// then K_t, V_t into two stages each, each stage with a 'full' mbarrier (the copy's bytes
// landed) and an 'empty' one (all 8 consumer warps are done reading it) [FlashAttention-3
// warp specialisation]; the consumers never meet at a CTA-wide barrier, so the two warpgroups
// drift apart and one's softmax fills the tensor cores' gaps of the other (explicit ping-pong
// turns on top, as FA3 has them, measured no faster here: bench/NOTES.md, round 4).
//   S = Q K^T   wgmma m64n128k16, A = Q and B = K both K-major from shared memory,
//   O += P V    wgmma m64n128k16, A = P (bf16 / fp16) from registers, B = V MN-major.
// The accumulators of one warp have mma.sync's C layout (per 8 columns: rows g and g + 8,
// columns 2 q4 and 2 q4 + 1), so the online softmax is variant B's, and S converts to the A
// fragment of P in registers. The overlap that wgmma buys [FlashAttention-3, "intra-warpgroup
// pipelining"]: iteration i issues S_i = Q K_i^T and then O += P_{i-1} V_{i-1}, waits for S_i
// only, and runs tile i's softmax while the P V product of tile i-1 is still in the tensor
// cores; O is rescaled once that product has landed.
// Max-pool mode (kMaxpool, pool block 64 only: DESIGN.md §1): the softmax step also stores the
// row max of the raw scores over each 64-key half of the tile to p.pool_scratch, exactly as
// flash_fwd.cuh's FwdMode::kMaxpool does (log2 units, scaled, masked keys -inf), and after the
// final (m, l) each warp emits its atomicMax contributions to p.pool_out (maxpool_emit.cuh).
#pragma once

#include "kernels/cuda/flash_fwd.cuh"
#include "kernels/cuda/maxpool_emit.cuh"
#include "kernels/cuda/mma_utils.cuh"
#include "kernels/cuda/tma_utils.cuh"
#include "kernels/cuda/wgmma_softmax.cuh"
#include "kernels/cuda/wgmma_utils.cuh"
#include "kernels/params.h"

#include <cuda.h>   // CUtensorMap

namespace seer::kernels::cuda {

struct WgShape {
  static constexpr int kD = 128;
  static constexpr int kBM = 128;   // 2 warpgroups x 64 rows
  static constexpr int kBN = 128;   // keys per tile
  static constexpr int kConsumerThreads = 256;
  static constexpr int kThreads = kConsumerThreads + 128;   // + the producer warpgroup
  static constexpr int kProducerRegs = 24;    // 128 x 24 + 256 x 240 <= 64K registers
  static constexpr int kConsumerRegs = 240;
  static constexpr int kTileBytes = 128 * kD * 2;   // Q, K or V tile (all 128 rows)
  static constexpr int kBoxBytes = kTileBytes / 2;  // one TMA box: 128 rows x 64 elements
  // Q, K x 2, V x 2, 9 mbarriers, plus slack to round the base up to 1024 bytes (swizzle atoms).
  static constexpr int kSmemBytes = 5 * kTileBytes + 128 + 1024;
};

#if SEER_WGMMA_DEVICE
template <typename T>
struct WgmmaOps;
template <>
struct WgmmaOps<__nv_bfloat16> {
  static __device__ __forceinline__ void ss(float (&d)[64], uint64_t a, uint64_t b, int acc) {
    wgmma_ss_m64n128k16_bf16(d, a, b, acc);
  }
  static __device__ __forceinline__ void rs(float (&d)[64], const uint32_t (&a)[4], uint64_t b,
                                            int acc) {
    wgmma_rs_m64n128k16_bf16(d, a, b, acc);
  }
};
template <>
struct WgmmaOps<__half> {
  static __device__ __forceinline__ void ss(float (&d)[64], uint64_t a, uint64_t b, int acc) {
    wgmma_ss_m64n128k16_f16(d, a, b, acc);
  }
  static __device__ __forceinline__ void rs(float (&d)[64], const uint32_t (&a)[4], uint64_t b,
                                            int acc) {
    wgmma_rs_m64n128k16_f16(d, a, b, acc);
  }
};
#endif

template <typename T, bool kMaxpool = false>
__global__ void __launch_bounds__(WgShape::kThreads, 1)
    flash_fwd_wgmma_kernel(const __grid_constant__ AttnParams p,
                           const __grid_constant__ CUtensorMap tm_q,
                           const __grid_constant__ CUtensorMap tm_k,
                           const __grid_constant__ CUtensorMap tm_v) {
#if SEER_WGMMA_DEVICE
  using Ops = ElemOps<T>;
  using Mma = WgmmaOps<T>;
  constexpr int kBM = WgShape::kBM;
  constexpr int kBN = WgShape::kBN;
  constexpr int kTile = WgShape::kTileBytes;
  constexpr float kLog2e = 1.4426950408889634f;

  extern __shared__ unsigned char smem[];
  const uint32_t sQ = (smem_addr(smem) + 1023u) & ~1023u;
  const uint32_t sK0 = sQ + kTile;       // K_i in sK0 + (i & 1) * kTile
  const uint32_t sV0 = sK0 + 2 * kTile;  // V_i in sV0 + (i & 1) * kTile
  // mbarriers: Q full; K full x 2, K empty x 2; V full x 2, V empty x 2 (8 bytes each).
  const uint32_t bar_q = sV0 + 2 * kTile;
  const uint32_t bar_k_full = bar_q + 8, bar_k_empty = bar_q + 24;
  const uint32_t bar_v_full = bar_q + 40, bar_v_empty = bar_q + 56;

  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int wg = warp >> 2;   // warpgroup: rows 64 wg ..
  const int g = lane >> 2;
  const int q4 = lane & 3;
  const int h = p.head_begin + blockIdx.x;
  const int tile = gridDim.y - 1 - blockIdx.y;   // heaviest causal tiles first
  const int b = blockIdx.z;
  const SeqSpan span = seq_span(p, b);
  const int m0 = tile * kBM;
  if (m0 >= span.rows_to_write) return;
  const int off = span.sk - span.sq;   // bottom-right causal alignment
  const int hkv = h / (p.hq / p.hkv);

  int n_tiles = 0;
  if (m0 < span.sq) {
    int key_end = span.sk;
    if (p.causal) key_end = min(key_end, max(0, m0 + kBM + off));
    n_tiles = (key_end + kBN - 1) / kBN;
  }

  if (tid == 0) {
    mbar_init(bar_q, 1);
#pragma unroll
    for (int st = 0; st < 2; ++st) {
      mbar_init(bar_k_full + 8 * st, 1);
      mbar_init(bar_v_full + 8 * st, 1);
      mbar_init(bar_k_empty + 8 * st, 8);   // lane 0 of each consumer warp
      mbar_init(bar_v_empty + 8 * st, 8);
    }
    mbar_init_fence();
  }
  __syncthreads();   // the last CTA-wide barrier

  // ---- producer warpgroup: Q, then K_t and V_t for t = 0 .. n_tiles - 1 ---------------------
  if (warp >= WgShape::kConsumerThreads / 32) {
    setmaxnreg_dec<WgShape::kProducerRegs>();
    if (warp == WgShape::kConsumerThreads / 32 && lane == 0 && n_tiles > 0) {
      // Tensor maps are [B, S, H, D] seen innermost first: coordinates (d, head, row, batch).
      // Varlen: one batch entry, rows from the sequence's offset; padded: batch b.
      const int tb = p.cu_seqlens_q != nullptr ? 0 : b;
      const int q_row = static_cast<int>(span.q_row0) + m0;
      const int k_row = static_cast<int>(span.k_row0);
      mbar_arrive_expect_tx(bar_q, kTile);
      tma_load_4d(sQ, &tm_q, bar_q, 0, h, q_row, tb);
      tma_load_4d(sQ + WgShape::kBoxBytes, &tm_q, bar_q, 64, h, q_row, tb);
      for (int t = 0; t < n_tiles; ++t) {
        const int st = t & 1;
        const uint32_t parity = ((t >> 1) & 1) ^ 1;   // passes at once for the first two tiles
        const int row = k_row + t * kBN;
        const uint32_t k_dst = sK0 + st * kTile, v_dst = sV0 + st * kTile;
        const uint32_t k_full = bar_k_full + 8 * st, v_full = bar_v_full + 8 * st;
        mbar_wait(bar_k_empty + 8 * st, parity);
        mbar_arrive_expect_tx(k_full, kTile);
        tma_load_4d(k_dst, &tm_k, k_full, 0, hkv, row, tb);
        tma_load_4d(k_dst + WgShape::kBoxBytes, &tm_k, k_full, 64, hkv, row, tb);
        mbar_wait(bar_v_empty + 8 * st, parity);
        mbar_arrive_expect_tx(v_full, kTile);
        tma_load_4d(v_dst, &tm_v, v_full, 0, hkv, row, tb);
        tma_load_4d(v_dst + WgShape::kBoxBytes, &tm_v, v_full, 64, hkv, row, tb);
      }
    }
  } else {
    // ---- consumers ------------------------------------------------------------------------------
    setmaxnreg_inc<WgShape::kConsumerRegs>();
    const int wg_row0 = m0 + wg * 64;                 // first row of this warpgroup
    const int row0 = wg_row0 + (warp & 3) * 16 + g;   // this thread's rows: row0, row0 + 8
    const float scale_log2 = p.scale * kLog2e;
    // Max-pool scratch of this (batch, head): [pool_nbk, pool_rows], 64-key blocks.
    float* pool_scratch = nullptr;
    if constexpr (kMaxpool) {
      pool_scratch = p.pool_scratch + (static_cast<int64_t>(b) * p.head_count + blockIdx.x) *
                                          p.pool_nbk * p.pool_rows;
    }
    // Q of this warpgroup: its 64 rows start 64 * 128 bytes into each column block.
    const uint64_t desc_q = sw128_desc(sQ + wg * 64 * 128, 16, 1024);

    float o[64];
#pragma unroll
    for (int i = 0; i < 64; ++i) o[i] = 0.f;
    float s[64];
    uint32_t pf[kBN / 16][4];   // P of the previous tile: A fragments, one per 16 keys
    float row_max[2] = {-INFINITY, -INFINITY};
    float row_sum[2] = {0.f, 0.f};

    // O += P V_t: 8 k-steps of 16 keys; V_t MN-major, its two 64-column blocks kTile / 2 apart.
    auto issue_pv = [&](int t) {
      const uint64_t desc_v = sw128_desc(sV0 + (t & 1) * kTile, kTile / 2, 1024);
#pragma unroll
      for (int kk = 0; kk < kBN / 16; ++kk) Mma::rs(o, pf[kk], desc_v + ((kk * 16 * 128) >> 4), 1);
    };

    auto wait_k = [&](int t) { mbar_wait(bar_k_full + 8 * (t & 1), (t >> 1) & 1); };
    auto wait_v = [&](int t) { mbar_wait(bar_v_full + 8 * (t & 1), (t >> 1) & 1); };
    // After a wgmma wait that retired the reads of K_t / V_t: hand the stage back.
    auto release_k = [&](int t) { if (lane == 0) mbar_arrive(bar_k_empty + 8 * (t & 1)); };
    auto release_v = [&](int t) { if (lane == 0) mbar_arrive(bar_v_empty + 8 * (t & 1)); };
    // S = Q K_i^T: 8 k-steps of 16 along the head dim (32 bytes apart inside a 128-byte row,
    // the second four in the second column block).
    auto issue_s = [&](int i) {
      const uint64_t desc_k = sw128_desc(sK0 + (i & 1) * kTile, 16, 1024);
#pragma unroll
      for (int kk = 0; kk < WgShape::kD / 16; ++kk) {
        const uint32_t step = ((kk >> 2) * (kTile / 2) + (kk & 3) * 32) >> 4;
        Mma::ss(s, desc_q + step, desc_k + step, kk > 0);
      }
    };
    // Mask and exponentiate S_i in place, update the row max / sum; alpha rescales O.
    auto softmax = [&](int i, float (&alpha)[2]) -> bool {
      const int key0 = i * kBN;
      const bool need_mask = key0 + kBN > span.sk || (p.causal && key0 + kBN - 1 > wg_row0 + off);
      if (need_mask) mask_keys<kBN, kBN>(s, 0, key0, row0, q4, span.sk, p.causal, off, false);
      bool rescale = false;
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        float tile_max = -INFINITY;
        if constexpr (kMaxpool) {
          // The two 64-key halves are pool blocks 2 i and 2 i + 1; a half past the sequence
          // (all -inf after the mask) is written too when the scratch has its slot.
          float half_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
          for (int j = 0; j < kBN / 8; ++j)
            half_max[j / 8] = fmaxf(half_max[j / 8], fmaxf(s[4 * j + 2 * r], s[4 * j + 2 * r + 1]));
          const int row = row0 + 8 * r;
#pragma unroll
          for (int hb = 0; hb < 2; ++hb) {
            half_max[hb] = quad_max(half_max[hb]);
            const int jb = 2 * i + hb;
            if (q4 == 0 && row < span.sq && jb < p.pool_nbk)
              pool_scratch[static_cast<int64_t>(jb) * p.pool_rows + row] = half_max[hb] * scale_log2;
          }
          tile_max = fmaxf(half_max[0], half_max[1]);
        } else {
          tile_max = quad_max(thread_row_max<kBN>(s, r));
        }
        rescale |= online_softmax_row<kBN>(s, r, tile_max, scale_log2, row_max[r], row_sum[r],
                                           alpha[r]);
      }
      return rescale;
    };

    // Tile 0 stands apart so that the loop's wgmma waits are unconditional: ptxas serialises
    // wgmma when some path could read accumulators that are still in flight.
    if (n_tiles > 0) {
      mbar_wait(bar_q, 0);
      wait_k(0);
      fence_regs(s);
      wgmma_fence();
      issue_s(0);
      wgmma_commit();
      wgmma_wait<0>();
      fence_regs(s);
      release_k(0);
      float alpha[2];
      softmax(0, alpha);   // O is still zero: nothing to rescale
      pack_p<Ops, kBN>(s, pf);
    }
    for (int i = 1; i < n_tiles; ++i) {
      // S_i = Q K_i^T, then O += P_{i-1} V_{i-1}; tile i's softmax runs while the latter does.
      wait_k(i);
      wait_v(i - 1);
      fence_regs(s);
      fence_regs(o);
      wgmma_fence();
      issue_s(i);
      wgmma_commit();
      issue_pv(i - 1);
      wgmma_commit();
      wgmma_wait<1>();
      fence_regs(s);
      release_k(i);
      float alpha[2];
      const bool rescale = softmax(i, alpha);
      wgmma_wait<0>();   // P_{i-1} V_{i-1} landed: rescale O, P_i replaces P_{i-1}
      fence_regs(o);
      release_v(i - 1);
      if (__any_sync(0xffffffffu, rescale)) rescale_o(o, alpha);
      pack_p<Ops, kBN>(s, pf);
    }

    // ---- the last tile's P V -----------------------------------------------------------------
    if (n_tiles > 0) {
      wait_v(n_tiles - 1);
      // Keys past the sequence: their P is 0, but the copy brought whatever lies there (padding
      // of a padded batch, another sequence's rows), and 0 * NaN = NaN. Zero those V rows, as
      // variant B's zero-filling loads do. Only the last tile can be partial (CTA-uniform test).
      const int valid = span.sk - (n_tiles - 1) * kBN;
      if (valid < kBN) {
        zero_swizzled_rows<kBN>(sV0 + ((n_tiles - 1) & 1) * kTile, valid, kBN, tid,
                                WgShape::kConsumerThreads);
        fence_proxy_async();   // generic-proxy stores, read next by wgmma
        asm volatile("bar.sync 1, %0;\n" ::"n"(WgShape::kConsumerThreads) : "memory");
      }
      fence_regs(o);
      wgmma_fence();
      issue_pv(n_tiles - 1);
      wgmma_commit();
      wgmma_wait<0>();
      fence_regs(o);
    }

    // ---- epilogue: normalise, write O and lse (as variant B) ---------------------------------
    float lse2_rows[1][2];   // log2-domain lse per row, -inf for rows without keys
    store_o_lse<T, Ops>(p, span, b, h, row0, q4, o, row_max, row_sum, scale_log2, lse2_rows[0]);
    // ---- max-pool: this warp's 16 rows lie in one 64-row query block -------------------------
    if constexpr (kMaxpool) {
      const int n_blocks = min(p.pool_nbk, (n_tiles * kBN + 63) / 64);
      maxpool_emit_warp<1, 8>(p, pool_scratch, b, h, span.sq, wg_row0 + (warp & 3) * 16, n_blocks,
                           lse2_rows, g, q4);
    }
  }   // consumers
#endif  // SEER_WGMMA_DEVICE
}

}  // namespace seer::kernels::cuda
