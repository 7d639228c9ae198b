// Block-sparse attention forward for Hopper (sm_90a) on warpgroup MMA with 128-key steps over
// two list entries: sparse variant 'X' (head dim 128, bf16 / fp16, tile lists of 64 x 64 without
// an element mask, GQA, padded and varlen batches, optional lse), writing exactly what the
// mma.sync sparse kernels write.
//
// Its predecessor V (bench/NOTES.md rounds 4-5, since removed) walked a query block's list one
// 64-key tile per step, so every step paid the dense kernel W's per-step costs (mbarrier waits,
// fences, the row-max quad shuffles, the O rescale) on half of W's FLOPs, and S = Q K^T ran at
// n = 64. X takes the list two entries at a time: the producer
// puts entry 2 j's K (and V) in rows 0-63 and entry 2 j + 1's in rows 64-127 of one 128-row
// stage, laid out exactly as W's 128-key tile (two 64-column blocks of 128 swizzled rows; the
// 128-byte swizzle follows the address, so a 64-row box written 8 KB into a column block is
// rows 64-127 of it). The consumer is then W's warpgroup on that stage:
//   S = Q K^T   wgmma m64n128k16 from shared memory (Q and K K-major),
//   O += P V    wgmma m64n128k16, P from registers, V MN-major (8 k-steps of 16 keys),
// with the mask applied per 64-key half (each half has its own key tile; the causal and
// sequence-end tests run only for the halves that need them). A list of odd length loads its
// last entry into both halves of the last stage and masks the second half to -inf (P = 0; the V
// rows are that tile's, finite once the rows past the sequence are zeroed).
//   CTA = 1 consumer warpgroup (one 64-row query block and its list) + 1 producer warpgroup (one
//   thread issues the copies), KV-head-major order as V.
// Shared memory: Q 16 KB + K_STAGES x K 32 KB + V_STAGES x V 32 KB; the mbarriers sit in the
// 1 KB alignment slack. One K stage and two V stages (112 KB) keep two CTAs per SM (2 x (112 +
// 1 + 1 reserved) KB = 228 KB): K_i's stage is free as soon as S_i has landed, early in step i,
// and K_{i+1} is needed only at step i + 1, so one K stage hides the copy behind step i's
// softmax and P V; V_i is read until the end of step i + 1 and needs two.
#pragma once

#include "kernels/cuda/flash_fwd.cuh"
#include "kernels/cuda/flash_fwd_wgmma.cuh"   // WgmmaOps (m64n128k16, smem x smem and reg x smem)
#include "kernels/cuda/mma_utils.cuh"
#include "kernels/cuda/tma_utils.cuh"
#include "kernels/cuda/wgmma_softmax.cuh"
#include "kernels/cuda/wgmma_utils.cuh"
#include "kernels/params.h"

#include <cuda.h>   // CUtensorMap

namespace seer::kernels::cuda {

template <int K_STAGES, int V_STAGES>
struct WpShape {
  static constexpr int kD = 128;
  static constexpr int kBM = 64;        // query rows: one tile-list row
  static constexpr int kEntry = 64;     // keys per list entry
  static constexpr int kBN = 128;       // keys per step: two entries
  static constexpr int kKStages = K_STAGES;
  static constexpr int kVStages = V_STAGES;
  static constexpr int kThreads = 256;  // consumer + producer warpgroup
  static constexpr int kQBytes = kBM * kD * 2;     // 16 KB
  static constexpr int kStepBytes = kBN * kD * 2;  // K or V of one step: 32 KB
  static constexpr int kBoxBytes = 64 * 128;       // one TMA box: 64 rows x 64 elements
  static constexpr int kTileBytes = kQBytes + (kKStages + kVStages) * kStepBytes;
  static constexpr int kBarBytes = 8 * (1 + 2 * kKStages + 2 * kVStages);
  static_assert(kBarBytes <= 512, "mbarriers must fit the alignment slack");
  static constexpr int kSmemBytes = kTileBytes + 1024;
  // 228 KB per SM, 1 KB of it reserved per CTA: two CTAs fit at <= 113 KB of dynamic memory.
  static constexpr int kMinBlocks = kSmemBytes <= 113 * 1024 ? 2 : 1;
  static constexpr int kProducerRegs = 24;
  static constexpr int kConsumerRegs = kMinBlocks == 2 ? 232 : 240;
};

template <typename T, int K_STAGES, int V_STAGES>
__global__ void __launch_bounds__(256, (WpShape<K_STAGES, V_STAGES>::kMinBlocks))
    flash_fwd_wgmma_sparse_pair_kernel(const __grid_constant__ AttnParams p,
                                       const __grid_constant__ CUtensorMap tm_q,
                                       const __grid_constant__ CUtensorMap tm_k,
                                       const __grid_constant__ CUtensorMap tm_v) {
#if SEER_WGMMA_DEVICE
  using Ops = ElemOps<T>;
  using Mma = WgmmaOps<T>;
  using Shape = WpShape<K_STAGES, V_STAGES>;
  constexpr int kBN = Shape::kBN;
  constexpr int kEntry = Shape::kEntry;
  constexpr int kKS = Shape::kKStages;
  constexpr int kVS = Shape::kVStages;
  constexpr int kStep = Shape::kStepBytes;
  constexpr int kBox = Shape::kBoxBytes;
  constexpr float kLog2e = 1.4426950408889634f;

  extern __shared__ unsigned char smem[];
  const uint32_t raw = smem_addr(smem);
  const uint32_t base = (raw + 1023u) & ~1023u;
  // The barriers go before the aligned tiles when the slack there holds them, else after them
  // (then the slack before is < kBarBytes, so the 1 KB allotted leaves room behind).
  const uint32_t bars = base - raw >= static_cast<uint32_t>(Shape::kBarBytes)
                            ? base - Shape::kBarBytes
                            : base + Shape::kTileBytes;
  const uint32_t sQ = base;
  const uint32_t sK0 = sQ + Shape::kQBytes;   // K of step t in sK0 + (t % kKS) * kStep
  const uint32_t sV0 = sK0 + kKS * kStep;     // V of step t in sV0 + (t % kVS) * kStep
  const uint32_t bar_q = bars;
  const uint32_t bar_k_full = bar_q + 8, bar_k_empty = bar_k_full + 8 * kKS;
  const uint32_t bar_v_full = bar_k_empty + 8 * kKS, bar_v_empty = bar_v_full + 8 * kVS;

  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;

  // CTA order (grid.x per batch entry = grid.y): KV-head-major, heaviest causal blocks first.
  const int per_kv = p.hq / p.hkv;
  const CtaBlock cta = kv_head_major_block(p, (p.sq + Shape::kBM - 1) / Shape::kBM, blockIdx.x);
  const int qtile = cta.qtile, h = cta.h;
  const int b = blockIdx.y;
  const SeqSpan span = seq_span(p, b);
  const int m0 = qtile * Shape::kBM;
  if (m0 >= span.rows_to_write) return;   // CTA-uniform
  const int off = span.sk - span.sq;      // bottom-right causal alignment
  const int hkv = h / per_kv;

  int n_tiles = 0;
  const int32_t* list = p.tile_indices;
  int kt_first = 0;
  if (m0 < span.sq && p.n_ktiles > 0) {
    const int64_t row_id = (static_cast<int64_t>(b) * p.hq + h) * p.n_qtiles + qtile;
    list = p.tile_indices + row_id * p.n_ktiles;
    n_tiles = p.tile_counts[row_id];
    kt_first = __ldg(list);
  }
  const int n_steps = (n_tiles + 1) / 2;
  // Key tile of list entry e of a step pair (an odd list's missing last entry repeats its first).
  auto entry_b = [&](int e, int kt_a) { return e < n_tiles ? __ldg(list + e) : kt_a; };

  if (tid == 0) {
    mbar_init(bar_q, 1);
#pragma unroll
    for (int st = 0; st < kKS; ++st) {
      mbar_init(bar_k_full + 8 * st, 1);
      mbar_init(bar_k_empty + 8 * st, 4);   // lane 0 of each consumer warp
    }
#pragma unroll
    for (int st = 0; st < kVS; ++st) {
      mbar_init(bar_v_full + 8 * st, 1);
      mbar_init(bar_v_empty + 8 * st, 4);
    }
    mbar_init_fence();
  }
  __syncthreads();   // the last CTA-wide barrier

  // ---- producer warpgroup: Q, then per step K and V of list entries 2 t and 2 t + 1 ---------
  if (warp >= 4) {
    setmaxnreg_dec<Shape::kProducerRegs>();
    if (warp == 4 && lane == 0 && n_tiles > 0) {
      // Tensor maps are [B, S, H, D] seen innermost first: coordinates (d, head, row, batch).
      const int tb = p.cu_seqlens_q != nullptr ? 0 : b;
      const int q_row = static_cast<int>(span.q_row0) + m0;
      const int k_row = static_cast<int>(span.k_row0);
      mbar_arrive_expect_tx(bar_q, Shape::kQBytes);
      tma_load_4d(sQ, &tm_q, bar_q, 0, h, q_row, tb);
      tma_load_4d(sQ + kBox, &tm_q, bar_q, 64, h, q_row, tb);
      int kt_a = kt_first;
      int kt_b = entry_b(1, kt_a);
      for (int t = 0; t < n_steps; ++t) {
        // The next pair's entries are in flight while this step's copies are issued.
        const int nx_a = 2 * t + 2 < n_tiles ? __ldg(list + 2 * t + 2) : 0;
        const int nx_b = entry_b(2 * t + 3, nx_a);
        const int row_a = k_row + kt_a * kEntry, row_b = k_row + kt_b * kEntry;
        // Entry a: rows 0-63 of both column blocks (16 KB apart); entry b: rows 64-127.
        const int ks = t % kKS;
        const uint32_t k_dst = sK0 + ks * kStep, k_full = bar_k_full + 8 * ks;
        mbar_wait(bar_k_empty + 8 * ks, ((t / kKS) & 1) ^ 1);   // the first kKS pass at once
        mbar_arrive_expect_tx(k_full, kStep);
        tma_load_4d(k_dst, &tm_k, k_full, 0, hkv, row_a, tb);
        tma_load_4d(k_dst + 2 * kBox, &tm_k, k_full, 64, hkv, row_a, tb);
        tma_load_4d(k_dst + kBox, &tm_k, k_full, 0, hkv, row_b, tb);
        tma_load_4d(k_dst + 3 * kBox, &tm_k, k_full, 64, hkv, row_b, tb);
        const int vs = t % kVS;
        const uint32_t v_dst = sV0 + vs * kStep, v_full = bar_v_full + 8 * vs;
        mbar_wait(bar_v_empty + 8 * vs, ((t / kVS) & 1) ^ 1);
        mbar_arrive_expect_tx(v_full, kStep);
        tma_load_4d(v_dst, &tm_v, v_full, 0, hkv, row_a, tb);
        tma_load_4d(v_dst + 2 * kBox, &tm_v, v_full, 64, hkv, row_a, tb);
        tma_load_4d(v_dst + kBox, &tm_v, v_full, 0, hkv, row_b, tb);
        tma_load_4d(v_dst + 3 * kBox, &tm_v, v_full, 64, hkv, row_b, tb);
        kt_a = nx_a;
        kt_b = nx_b;
      }
    }
    return;
  }

  // ---- consumer warpgroup -----------------------------------------------------------------------
  setmaxnreg_inc<Shape::kConsumerRegs>();
  const int g = lane >> 2;
  const int q4 = lane & 3;
  const int row0 = m0 + warp * 16 + g;   // this thread's rows: row0, row0 + 8
  const float scale_log2 = p.scale * kLog2e;
  const uint64_t desc_q = sw128_desc(sQ, 16, 1024);

  float o[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) o[i] = 0.f;
  float s[64];
  uint32_t pf[kBN / 16][4];   // P of the previous step: A fragments, one per 16 keys
  float row_max[2] = {-INFINITY, -INFINITY};
  float row_sum[2] = {0.f, 0.f};

  auto wait_k = [&](int t) { mbar_wait(bar_k_full + 8 * (t % kKS), (t / kKS) & 1); };
  auto wait_v = [&](int t) { mbar_wait(bar_v_full + 8 * (t % kVS), (t / kVS) & 1); };
  auto release_k = [&](int t) { if (lane == 0) mbar_arrive(bar_k_empty + 8 * (t % kKS)); };
  auto release_v = [&](int t) { if (lane == 0) mbar_arrive(bar_v_empty + 8 * (t % kVS)); };
  // S = Q K^T: 8 k-steps of 16 along the head dim, 32 bytes apart inside a 128-byte row, the
  // second four in the second column block (Q's 8 KB, K's 16 KB further).
  auto issue_s = [&](int t) {
    const uint64_t desc_k = sw128_desc(sK0 + (t % kKS) * kStep, 16, 1024);
#pragma unroll
    for (int kk = 0; kk < Shape::kD / 16; ++kk) {
      const uint32_t q_step = ((kk >> 2) * kBox + (kk & 3) * 32) >> 4;
      const uint32_t k_step = ((kk >> 2) * 2 * kBox + (kk & 3) * 32) >> 4;
      Mma::ss(s, desc_q + q_step, desc_k + k_step, kk > 0);
    }
  };
  // O += P V: 8 k-steps of 16 keys; V MN-major, its two 64-column blocks 16 KB apart.
  auto issue_pv = [&](int t) {
    const uint64_t desc_v = sw128_desc(sV0 + (t % kVS) * kStep, 2 * kBox, 1024);
#pragma unroll
    for (int kk = 0; kk < kBN / 16; ++kk) Mma::rs(o, pf[kk], desc_v + ((kk * 16 * 128) >> 4), 1);
  };
  // Keys past the sequence have P = 0, but the copy brought whatever lies there (padding, another
  // sequence's rows) and 0 * NaN = NaN: zero those V rows of either half first. Only steps that
  // hold a tile reaching past the end take this path; the test is uniform over the warpgroup.
  auto clean_v = [&](int t, int kt_a, int kt_b) {
    const int valid_a = max(0, span.sk - kt_a * kEntry), valid_b = max(0, span.sk - kt_b * kEntry);
    if (valid_a >= kEntry && valid_b >= kEntry) return;
    const uint32_t v = sV0 + (t % kVS) * kStep;
    zero_swizzled_rows<kBN>(v, valid_a, kEntry, tid, 128);
    zero_swizzled_rows<kBN>(v, kEntry + valid_b, kBN, tid, 128);
    fence_proxy_async();   // generic-proxy stores, read next by wgmma
    asm volatile("bar.sync 1, 128;\n" ::: "memory");
  };
  // Mask and exponentiate S (keys of tile kt_a in columns 0-63, of kt_b in 64-127; b_live false:
  // an odd list's repeated last entry, all -inf) in place, update the row max / sum; alpha
  // rescales O.
  auto softmax = [&](int kt_a, int kt_b, bool b_live, float (&alpha)[2]) -> bool {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int key0 = (half == 0 ? kt_a : kt_b) * kEntry;
      const bool live = half == 0 || b_live;
      if (!live || key0 + kEntry > span.sk || (p.causal && key0 + kEntry - 1 > m0 + off))
        mask_keys<kBN, kEntry>(s, 8 * half, key0, row0, q4, span.sk, p.causal, off, !live);
    }
    bool rescale = false;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      rescale |= online_softmax_row<kBN>(s, r, quad_max(thread_row_max<kBN>(s, r)), scale_log2,
                                         row_max[r], row_sum[r], alpha[r]);
    }
    return rescale;
  };

  // Step 0 stands apart so that the loop's wgmma waits are unconditional (as W and V: ptxas
  // serialises wgmma when some path could read accumulators still in flight).
  int kt_a = kt_first, kt_b = entry_b(1, kt_first);   // entries of the step being read
  int pv_a = kt_a, pv_b = kt_b;                      // entries of the step whose P V is pending
  if (n_steps > 0) {
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
    softmax(kt_a, kt_b, n_tiles > 1, alpha);   // O is still zero: nothing to rescale
    pack_p<Ops, kBN>(s, pf);
  }
  if (n_steps > 1) {
    kt_a = __ldg(list + 2);
    kt_b = entry_b(3, kt_a);
  }
  for (int i = 1; i < n_steps; ++i) {
    const int nx_a = 2 * i + 2 < n_tiles ? __ldg(list + 2 * i + 2) : 0;   // in flight meanwhile
    const int nx_b = entry_b(2 * i + 3, nx_a);
    // S_i = Q K_i^T, then O += P_{i-1} V_{i-1}; step i's softmax runs while the latter does.
    wait_k(i);
    wait_v(i - 1);
    clean_v(i - 1, pv_a, pv_b);
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
    const bool rescale = softmax(kt_a, kt_b, 2 * i + 1 < n_tiles, alpha);
    wgmma_wait<0>();   // P_{i-1} V_{i-1} landed: rescale O, P_i replaces P_{i-1}
    fence_regs(o);
    release_v(i - 1);
    if (__any_sync(0xffffffffu, rescale)) rescale_o(o, alpha);
    pack_p<Ops, kBN>(s, pf);
    pv_a = kt_a;
    pv_b = kt_b;
    kt_a = nx_a;
    kt_b = nx_b;
  }

  // ---- the last step's P V -------------------------------------------------------------------
  if (n_steps > 0) {
    wait_v(n_steps - 1);
    clean_v(n_steps - 1, pv_a, pv_b);
    fence_regs(o);
    wgmma_fence();
    issue_pv(n_steps - 1);
    wgmma_commit();
    wgmma_wait<0>();
    fence_regs(o);
  }

  // ---- epilogue: normalise, write O and lse (as V; empty rows: 0, -inf) ---------------------------
  float lse2[2];
  store_o_lse<T, Ops>(p, span, b, h, row0, q4, o, row_max, row_sum, scale_log2, lse2);
#endif  // SEER_WGMMA_DEVICE
}

}  // namespace seer::kernels::cuda
