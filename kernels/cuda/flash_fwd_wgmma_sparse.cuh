// Block-sparse attention forward for Hopper (sm_90a) on warpgroup MMA: sparse variant 'V'
// (head dim 128, bf16 / fp16, tile lists of 64 x 64 without an element mask, GQA, padded and
// varlen batches, optional lse), writing exactly what the mma.sync sparse kernels write.
//
// Built on the dense kernel W (flash_fwd_wgmma.cuh) with one change of shape: every consumer
// warpgroup owns one 64-row query block and walks that block's own list of kept 64-key tiles,
// with its own producer thread, K / V stages and mbarriers. Random masks give two query blocks
// few tiles in common (round 3, bench/NOTES.md), so W's 128 rows over one key walk would
// multiply the work; independent 64-row pipelines keep every tile loaded for one block only.
//   CTA = CONSUMERS consumer warpgroups (warps 4 w .. 4 w + 3: query block CONSUMERS t + w) +
//         1 producer warpgroup (warp 4 CONSUMERS + w, lane 0, feeds consumer w; the rest idle).
//   The launcher uses CONSUMERS = 1: 256 threads and 83 KB, two CTAs per SM, so one CTA's cold
//   start (Q, first K / V) and tail overlap the other's work. CONSUMERS = 2 (one CTA per SM,
//   161 KB, W's register split 24 / 240) measured equal at keep >= 0.3 and up to 8% slower at
//   keep 0.1 / 0.05 (bench/NOTES.md, round 4); 3 K / V stages instead of 2 gave nothing.
//   S = Q K^T   wgmma m64n64k16 from shared memory (Q and K K-major),
//   O += P V    wgmma m64n128k16, P from registers, V MN-major (4 k-steps of 16 keys).
// Shared memory per consumer: Q 16 KB + 2 stages x (K 16 KB + V 16 KB) = 80 KB.
// CTA order as the split kernel S: KV-head-major (all query blocks of the query heads that share
// one KV head, heaviest causal blocks first, before the next KV head), so the CTAs resident at
// once read one KV head's K / V from L2 although their lists differ.
#pragma once

#include "kernels/cuda/flash_fwd.cuh"
#include "kernels/cuda/mma_utils.cuh"
#include "kernels/cuda/tma_utils.cuh"
#include "kernels/cuda/wgmma_utils.cuh"
#include "kernels/params.h"

#include <cuda.h>   // CUtensorMap

namespace seer::kernels::cuda {

template <int CONSUMERS>
struct WsShape {
  static constexpr int kD = 128;
  static constexpr int kBM = 64;   // query rows per consumer warpgroup (one tile-list row)
  static constexpr int kBN = 64;   // keys per tile (the lists' tiles)
  static constexpr int kStages = 2;
  static constexpr int kConsumers = CONSUMERS;   // 1 or 2 query blocks per CTA
  static constexpr int kConsumerThreads = 128 * kConsumers;
  static constexpr int kThreads = kConsumerThreads + 128;   // + the producer warpgroup
  // CTAs per SM: 2 consumers fill the registers and 161 KB of shared memory; 1 consumer (83 KB)
  // runs two CTAs per SM, 256 x 128 registers each at entry, moved to the consumer by setmaxnreg
  // (128 x 24 + 128 x 232 = 32K per CTA).
  static constexpr int kMinBlocks = CONSUMERS == 2 ? 1 : 2;
  static constexpr int kProducerRegs = 24;
  static constexpr int kConsumerRegs = CONSUMERS == 2 ? 240 : 232;
  static constexpr int kTileBytes = 64 * kD * 2;    // Q, K or V tile: 64 rows x 128
  static constexpr int kBoxBytes = kTileBytes / 2;  // one TMA box: 64 rows x 64 elements
  static constexpr int kWgBytes = kTileBytes * (1 + 2 * kStages);   // Q + K, V stages
  static constexpr int kBarBytes = 128;   // per consumer: Q full + 4 x kStages barriers
  static_assert(8 + 32 * kStages <= kBarBytes, "mbarriers exceed their slot");
  static constexpr int kSmemBytes = kConsumers * (kWgBytes + kBarBytes) + 1024;
};

#if SEER_WGMMA_DEVICE
template <typename T>
struct WsMma;
template <>
struct WsMma<__nv_bfloat16> {
  static __device__ __forceinline__ void ss(float (&d)[32], uint64_t a, uint64_t b, int acc) {
    wgmma_ss_m64n64k16_bf16(d, a, b, acc);
  }
  static __device__ __forceinline__ void rs(float (&d)[64], const uint32_t (&a)[4], uint64_t b,
                                            int acc) {
    wgmma_rs_m64n128k16_bf16(d, a, b, acc);
  }
};
template <>
struct WsMma<__half> {
  static __device__ __forceinline__ void ss(float (&d)[32], uint64_t a, uint64_t b, int acc) {
    wgmma_ss_m64n64k16_f16(d, a, b, acc);
  }
  static __device__ __forceinline__ void rs(float (&d)[64], const uint32_t (&a)[4], uint64_t b,
                                            int acc) {
    wgmma_rs_m64n128k16_f16(d, a, b, acc);
  }
};
#endif

template <typename T, int CONSUMERS>
__global__ void __launch_bounds__(WsShape<CONSUMERS>::kThreads, WsShape<CONSUMERS>::kMinBlocks)
    flash_fwd_wgmma_sparse_kernel(const __grid_constant__ AttnParams p,
                                  const __grid_constant__ CUtensorMap tm_q,
                                  const __grid_constant__ CUtensorMap tm_k,
                                  const __grid_constant__ CUtensorMap tm_v) {
#if SEER_WGMMA_DEVICE
  using Ops = ElemOps<T>;
  using Mma = WsMma<T>;
  using Shape = WsShape<CONSUMERS>;
  constexpr int kBN = Shape::kBN;
  constexpr int kStages = Shape::kStages;
  constexpr int kTile = Shape::kTileBytes;
  constexpr int kBox = Shape::kBoxBytes;
  constexpr float kLog2e = 1.4426950408889634f;
  constexpr float kLn2 = 0.6931471805599453f;

  extern __shared__ unsigned char smem[];
  const uint32_t base = (smem_addr(smem) + 1023u) & ~1023u;

  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const bool producer = warp >= Shape::kConsumerThreads / 32;
  // Consumer warpgroup w (warps 4 w .. 4 w + 3) and its producer thread (warp 8 + w, lane 0).
  const int w = producer ? warp - Shape::kConsumerThreads / 32 : warp >> 2;

  // CTA order (grid.x per batch entry = grid.y): KV-head-major, units of kConsumers query blocks.
  const int n_q = (p.sq + Shape::kBM - 1) / Shape::kBM;
  const int n_units = (n_q + Shape::kConsumers - 1) / Shape::kConsumers;
  const int per_kv = p.hq / p.hkv;
  // Heads of one KV head go together when this launch holds whole groups of them.
  const int group = (p.head_count % per_kv == 0 && p.head_begin % per_kv == 0) ? per_kv : 1;
  const int kv = blockIdx.x / (n_units * group);
  const int rem = blockIdx.x - kv * n_units * group;
  const int unit = n_units - 1 - rem / group;
  const int h = p.head_begin + kv * group + rem % group;
  const int b = blockIdx.y;
  const SeqSpan span = seq_span(p, b);
  if (unit * Shape::kConsumers * Shape::kBM >= span.rows_to_write) return;   // CTA-uniform
  const int off = span.sk - span.sq;   // bottom-right causal alignment
  const int hkv = h / per_kv;

  // This warpgroup's buffers and barriers.
  const uint32_t sQ = base + w * Shape::kWgBytes;
  const uint32_t sK0 = sQ + kTile;                 // K of list entry t in sK0 + (t % kStages) * kTile
  const uint32_t sV0 = sK0 + kStages * kTile;      // V likewise
  const uint32_t bar_q = base + Shape::kConsumers * Shape::kWgBytes + w * Shape::kBarBytes;
  const uint32_t bar_k_full = bar_q + 8, bar_k_empty = bar_k_full + 8 * kStages;
  const uint32_t bar_v_full = bar_k_empty + 8 * kStages, bar_v_empty = bar_v_full + 8 * kStages;

  // This warpgroup's query block and its list (count and first entry are independent loads).
  const int qtile = Shape::kConsumers * unit + w;
  const int m0 = qtile * Shape::kBM;
  int n_tiles = 0;
  const int32_t* list = p.tile_indices;
  int kt_first = 0;
  if (m0 < span.sq && p.n_ktiles > 0) {
    const int64_t row_id = (static_cast<int64_t>(b) * p.hq + h) * p.n_qtiles + qtile;
    list = p.tile_indices + row_id * p.n_ktiles;
    n_tiles = p.tile_counts[row_id];
    kt_first = __ldg(list);
  }

  if (tid < Shape::kConsumers) {   // thread c initialises consumer c's barriers
    const uint32_t bq = base + Shape::kConsumers * Shape::kWgBytes + tid * Shape::kBarBytes;
    mbar_init(bq, 1);
#pragma unroll
    for (int st = 0; st < kStages; ++st) {
      mbar_init(bq + 8 + 8 * st, 1);                     // K full
      mbar_init(bq + 8 + 8 * (kStages + st), 4);         // K empty: lane 0 of each consumer warp
      mbar_init(bq + 8 + 8 * (2 * kStages + st), 1);     // V full
      mbar_init(bq + 8 + 8 * (3 * kStages + st), 4);     // V empty
    }
    mbar_init_fence();
  }
  __syncthreads();   // the last CTA-wide barrier

  // ---- producer warpgroup: per consumer, Q, then K and V of each list entry ------------------
  if (producer) {
    setmaxnreg_dec<Shape::kProducerRegs>();
    if (w < Shape::kConsumers && lane == 0 && n_tiles > 0) {
      // Tensor maps are [B, S, H, D] seen innermost first: coordinates (d, head, row, batch).
      const int tb = p.cu_seqlens_q != nullptr ? 0 : b;
      const int q_row = static_cast<int>(span.q_row0) + m0;
      const int k_row = static_cast<int>(span.k_row0);
      mbar_arrive_expect_tx(bar_q, kTile);
      tma_load_4d(sQ, &tm_q, bar_q, 0, h, q_row, tb);
      tma_load_4d(sQ + kBox, &tm_q, bar_q, 64, h, q_row, tb);
      int kt = kt_first;
      for (int t = 0; t < n_tiles; ++t) {
        const int kt_next = t + 1 < n_tiles ? __ldg(list + t + 1) : 0;   // in flight meanwhile
        const int st = t % kStages;
        const uint32_t parity = ((t / kStages) & 1) ^ 1;   // the first kStages pass at once
        const int row = k_row + kt * kBN;
        const uint32_t k_dst = sK0 + st * kTile, v_dst = sV0 + st * kTile;
        const uint32_t k_full = bar_k_full + 8 * st, v_full = bar_v_full + 8 * st;
        mbar_wait(bar_k_empty + 8 * st, parity);
        mbar_arrive_expect_tx(k_full, kTile);
        tma_load_4d(k_dst, &tm_k, k_full, 0, hkv, row, tb);
        tma_load_4d(k_dst + kBox, &tm_k, k_full, 64, hkv, row, tb);
        mbar_wait(bar_v_empty + 8 * st, parity);
        mbar_arrive_expect_tx(v_full, kTile);
        tma_load_4d(v_dst, &tm_v, v_full, 0, hkv, row, tb);
        tma_load_4d(v_dst + kBox, &tm_v, v_full, 64, hkv, row, tb);
        kt = kt_next;
      }
    }
    return;
  }

  // ---- consumers ----------------------------------------------------------------------------------
  setmaxnreg_inc<Shape::kConsumerRegs>();
  const int g = lane >> 2;
  const int q4 = lane & 3;
  const int wtid = tid & 127;                          // thread inside the warpgroup
  const int row0 = m0 + (warp & 3) * 16 + g;           // this thread's rows: row0, row0 + 8
  const float scale_log2 = p.scale * kLog2e;
  const uint64_t desc_q = sw128_desc(sQ, 16, 1024);

  float o[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) o[i] = 0.f;
  float s[32];
  uint32_t pf[kBN / 16][4];   // P of the previous tile: A fragments, one per 16 keys
  float row_max[2] = {-INFINITY, -INFINITY};
  float row_sum[2] = {0.f, 0.f};

  auto wait_k = [&](int t) { mbar_wait(bar_k_full + 8 * (t % kStages), (t / kStages) & 1); };
  auto wait_v = [&](int t) { mbar_wait(bar_v_full + 8 * (t % kStages), (t / kStages) & 1); };
  auto release_k = [&](int t) { if (lane == 0) mbar_arrive(bar_k_empty + 8 * (t % kStages)); };
  auto release_v = [&](int t) { if (lane == 0) mbar_arrive(bar_v_empty + 8 * (t % kStages)); };
  // S = Q K_t^T: 8 k-steps of 16 along the head dim (32 bytes apart inside a 128-byte row, the
  // second four in the second column block).
  auto issue_s = [&](int t) {
    const uint64_t desc_k = sw128_desc(sK0 + (t % kStages) * kTile, 16, 1024);
#pragma unroll
    for (int kk = 0; kk < Shape::kD / 16; ++kk) {
      const uint32_t step = ((kk >> 2) * kBox + (kk & 3) * 32) >> 4;
      Mma::ss(s, desc_q + step, desc_k + step, kk > 0);
    }
  };
  // O += P V_t: 4 k-steps of 16 keys; V_t MN-major, its two 64-column blocks kBox apart.
  auto issue_pv = [&](int t) {
    const uint64_t desc_v = sw128_desc(sV0 + (t % kStages) * kTile, kBox, 1024);
#pragma unroll
    for (int kk = 0; kk < kBN / 16; ++kk) Mma::rs(o, pf[kk], desc_v + ((kk * 16 * 128) >> 4), 1);
  };
  // Keys past the sequence have P = 0, but the copy brought whatever lies there (padding, another
  // sequence's rows) and 0 * NaN = NaN: zero those V rows first, as the mma.sync kernels' zero-
  // filling loads do. Only tiles that reach past the end (the list's last ones) take this path;
  // the test is uniform over the warpgroup.
  auto clean_v = [&](int t, int kt) {
    const int valid = max(0, span.sk - kt * kBN);
    if (valid >= kBN) return;
    const uint32_t v = sV0 + (t % kStages) * kTile;
    for (int c = wtid; c < (kBN - valid) * (Shape::kD / 8); c += 128) {
      const int r = valid + c / (Shape::kD / 8);
      asm volatile("st.shared.v4.u32 [%0], {%1, %1, %1, %1};\n" ::"r"(
                       v + sw128_offset<Shape::kBN>(r, c % (Shape::kD / 8))),
                   "r"(0)
                   : "memory");
    }
    fence_proxy_async();   // generic-proxy stores, read next by wgmma
    // Named barrier 1 + w of this warpgroup's 128 threads (immediate ids: ptxas reserves only
    // the ids it sees, all 16 for a register operand).
    if (w == 0)
      asm volatile("bar.sync 1, 128;\n" ::: "memory");
    else
      asm volatile("bar.sync 2, 128;\n" ::: "memory");
  };
  // Mask and exponentiate S_t (key tile kt) in place, update the row max / sum; alpha rescales O.
  auto softmax = [&](int kt, float (&alpha)[2]) -> bool {
    const int key0 = kt * kBN;
    if (key0 + kBN > span.sk || (p.causal && key0 + kBN - 1 > m0 + off)) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int row = row0 + 8 * r;
#pragma unroll
        for (int j = 0; j < kBN / 8; ++j) {
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const int col = key0 + j * 8 + 2 * q4 + e;
            if (col >= span.sk || (p.causal && col > row + off)) s[4 * j + 2 * r + e] = -INFINITY;
          }
        }
      }
    }
    bool rescale = false;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float tile_max = -INFINITY;
#pragma unroll
      for (int j = 0; j < kBN / 8; ++j)
        tile_max = fmaxf(tile_max, fmaxf(s[4 * j + 2 * r], s[4 * j + 2 * r + 1]));
      tile_max = quad_max(tile_max);
      const float m_new = fmaxf(row_max[r], tile_max);
      const float m_scaled = m_new == -INFINITY ? 0.f : m_new * scale_log2;
      alpha[r] = m_new == row_max[r] ? 1.f : exp2f(fmaf(row_max[r], scale_log2, -m_scaled));
      rescale |= m_new != row_max[r];
      row_max[r] = m_new;
      float sum = 0.f;
#pragma unroll
      for (int j = 0; j < kBN / 8; ++j) {
        s[4 * j + 2 * r] = exp2f(fmaf(s[4 * j + 2 * r], scale_log2, -m_scaled));
        s[4 * j + 2 * r + 1] = exp2f(fmaf(s[4 * j + 2 * r + 1], scale_log2, -m_scaled));
        sum += s[4 * j + 2 * r] + s[4 * j + 2 * r + 1];
      }
      row_sum[r] = row_sum[r] * alpha[r] + sum;
    }
    return rescale;
  };
  auto pack_p = [&]() {
#pragma unroll
    for (int kk = 0; kk < kBN / 16; ++kk) {
      pf[kk][0] = Ops::pack(s[8 * kk + 0], s[8 * kk + 1]);
      pf[kk][1] = Ops::pack(s[8 * kk + 2], s[8 * kk + 3]);
      pf[kk][2] = Ops::pack(s[8 * kk + 4], s[8 * kk + 5]);
      pf[kk][3] = Ops::pack(s[8 * kk + 6], s[8 * kk + 7]);
    }
  };

  // Entry 0 stands apart so that the loop's wgmma waits are unconditional (W does the same:
  // ptxas serialises wgmma when some path could read accumulators still in flight).
  int kt_prev = kt_first;   // key tile of entry i - 1 inside the loop
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
    softmax(kt_first, alpha);   // O is still zero: nothing to rescale
    pack_p();
  }
  int kt_cur = n_tiles > 1 ? __ldg(list + 1) : 0;
  for (int i = 1; i < n_tiles; ++i) {
    const int kt_next = i + 1 < n_tiles ? __ldg(list + i + 1) : 0;   // in flight meanwhile
    // S_i = Q K_i^T, then O += P_{i-1} V_{i-1}; tile i's softmax runs while the latter does.
    wait_k(i);
    wait_v(i - 1);
    clean_v(i - 1, kt_prev);
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
    const bool rescale = softmax(kt_cur, alpha);
    wgmma_wait<0>();   // P_{i-1} V_{i-1} landed: rescale O, P_i replaces P_{i-1}
    fence_regs(o);
    release_v(i - 1);
    if (__any_sync(0xffffffffu, rescale)) {
#pragma unroll
      for (int j = 0; j < 16; ++j) {
        o[4 * j + 0] *= alpha[0];
        o[4 * j + 1] *= alpha[0];
        o[4 * j + 2] *= alpha[1];
        o[4 * j + 3] *= alpha[1];
      }
    }
    pack_p();
    kt_prev = kt_cur;
    kt_cur = kt_next;
  }

  // ---- the last entry's P V ------------------------------------------------------------------------
  if (n_tiles > 0) {
    wait_v(n_tiles - 1);
    clean_v(n_tiles - 1, kt_prev);
    fence_regs(o);
    wgmma_fence();
    issue_pv(n_tiles - 1);
    wgmma_commit();
    wgmma_wait<0>();
    fence_regs(o);
  }

  // ---- epilogue: normalise, write O and lse (as the mma.sync kernels; empty rows: 0, -inf) ------
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float l = quad_sum(row_sum[r]);
    const float inv = l > 0.f ? 1.f / l : 0.f;
    const float lse2 = l > 0.f ? row_max[r] * scale_log2 + __log2f(l) : -INFINITY;
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
            live ? lse2 * kLn2 : -INFINITY;
      }
    }
  }
#endif  // SEER_WGMMA_DEVICE
}

}  // namespace seer::kernels::cuda
