// FlashAttention-2-style forward kernel (mma.sync m16n8k16, ldmatrix, cp.async double buffering,
// online softmax in log2 units, fp32 accumulation) shared by the three attention entry points:
//   kDense   all causal key tiles,
//   kMaxpool the same plus the per-row, per-key-block raw score maxima for the ground truth G
//            (DESIGN.md §1), reduced to G after the row's final max and normaliser are known,
//   kSparse  only the key tiles of the per-(b, h, query tile) index list.
// One CTA owns BM = 16 * kMT * kWarps query rows of one (batch, query head); each warp owns
// 16 * kMT contiguous rows. Key tiles are BN = 64 keys. GQA: query head h reads KV head
// h / (Hq / Hkv); K/V are read in place, and the grid puts the heads of one query tile next to
// each other so the KV tile a group shares is still in L2.
#pragma once

#include "kernels/cuda/maxpool_emit.cuh"
#include "kernels/cuda/mma_utils.cuh"
#include "kernels/params.h"

#include <cfloat>

namespace seer::kernels::cuda {

// kSparseFine: kSparse for mask blocks of 16 / 32 keys, whose 64 x 64 tiles also need the
// element mask (a separate instantiation keeps that code out of the block-64 path).
enum class FwdMode : int { kDense = 0, kMaxpool = 1, kSparse = 2, kSparseFine = 3 };

constexpr int kBlockN = 64;
constexpr int kSparseBlockRows = 64;   // rows of one query block of the sparse tile lists

template <int D, int kWarps, int kMT>
struct FwdShape {
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kBM = 16 * kMT * kWarps;
  static constexpr int kBN = kBlockN;
  static constexpr int kQBytes = kBM * D * 2;
  static constexpr int kKVBytes = kBN * D * 2;
  // Two-warp CTAs keep one K and one V buffer and overlap them FA2-style (K of the next tile
  // loads during softmax and PV, V during QK^T): 48 KB at D = 128, so four CTAs share an SM.
  // Wider CTAs double-buffer K and V together.
  static constexpr bool kSingleBuf = kWarps == 2;
  static constexpr int kSmemBytes = kQBytes + (kSingleBuf ? 2 : 4) * kKVBytes;
  static constexpr bool kQInRegs = kMT == 1;                  // else re-read from smem
};

// Where one sequence of the batch lives and how long it is.
struct SeqSpan {
  int64_t q_row0, k_row0;   // first row inside the tensors' row dimension
  int sq, sk;               // valid rows / keys
  int rows_to_write;        // rows of the output this sequence owns (padded: the padded length)
};

__device__ __forceinline__ SeqSpan seq_span(const AttnParams& p, int b) {
  SeqSpan s;
  if (p.cu_seqlens_q != nullptr) {
    s.q_row0 = p.cu_seqlens_q[b];
    s.k_row0 = p.cu_seqlens_k[b];
    s.sq = p.cu_seqlens_q[b + 1] - p.cu_seqlens_q[b];
    s.sk = p.cu_seqlens_k[b + 1] - p.cu_seqlens_k[b];
    s.rows_to_write = s.sq;
  } else {
    s.q_row0 = 0;
    s.k_row0 = 0;
    s.sq = p.sq;
    s.sk = p.sk;
    if (p.seq_lens != nullptr) s.sq = s.sk = min(p.seq_lens[b], p.sq);
    s.rows_to_write = p.sq;
  }
  return s;
}

// The KV-head-major CTA order of the sparse kernels that run one query block of n_q per CTA
// (grid.x per batch entry): all query blocks of the query heads that share one KV head, heaviest
// causal blocks first, before the next KV head, so the CTAs resident at once read one KV head's
// K / V from L2 even when their lists are unrelated. Heads of one KV head go together when this
// launch holds whole groups of them. The query block and head of CTA `cta`:
struct CtaBlock {
  int qtile, h;
};
__device__ __forceinline__ CtaBlock kv_head_major_block(const AttnParams& p, int n_q, int cta) {
  const int per_kv = p.hq / p.hkv;
  const int group = (p.head_count % per_kv == 0 && p.head_begin % per_kv == 0) ? per_kv : 1;
  const int kv = cta / (n_q * group);
  const int rem = cta - kv * n_q * group;
  return {n_q - 1 - rem / group, p.head_begin + kv * group + rem % group};
}

template <typename T, int D, int kWarps, int kMT, FwdMode kMode>
__global__ void __launch_bounds__(kWarps * 32, 1) flash_fwd_kernel(const AttnParams p) {
  using Shape = FwdShape<D, kWarps, kMT>;
  using Ops = ElemOps<T>;
  constexpr bool kIsSparse = kMode == FwdMode::kSparse || kMode == FwdMode::kSparseFine;
  constexpr bool kFine = kMode == FwdMode::kSparseFine;
  constexpr int kBM = Shape::kBM;
  constexpr int kBN = Shape::kBN;
  constexpr int kThreads = Shape::kThreads;
  constexpr int kNT = kBN / 8;    // n-tiles of S per key tile
  constexpr int kKD = D / 16;     // k-steps over the head dim
  constexpr int kDT = D / 8;      // n-tiles of O
  constexpr float kLog2e = 1.4426950408889634f;
  constexpr float kLn2 = 0.6931471805599453f;

  extern __shared__ __align__(128) unsigned char smem[];
  const uint32_t sQ = smem_addr(smem);
  const uint32_t sK0 = sQ + Shape::kQBytes;
  const uint32_t sV0 = sK0 + (Shape::kSingleBuf ? 1 : 2) * Shape::kKVBytes;

  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int g = lane >> 2;   // row inside an 8-row group
  const int q4 = lane & 3;   // column pair inside an 8-column tile
  // kUnion: a 128-row CTA covers the 64-row query blocks 2t and 2t+1 of the sparse lists and
  // visits the union of their key tiles; the warps of a block skip tiles it does not keep.
  constexpr bool kUnion = kMode == FwdMode::kSparse && kBM == 2 * kSparseBlockRows;
  const int h = p.head_begin + blockIdx.x;
  const int tile = gridDim.y - 1 - blockIdx.y;   // heaviest causal tiles first
  const int b = blockIdx.z;
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

  // ---- which key tiles this CTA visits --------------------------------------------------
  int n_tiles = 0;
  const int32_t* tile_list = nullptr;
  // kUnion: the merged list, entries kt | keep bits << 24 (bit 0: block 2t, bit 1: block 2t+1),
  // in dynamic shared memory past the tiles.
  int* union_list = reinterpret_cast<int*>(smem + Shape::kSmemBytes);
  // Variant H splits the pairs of query blocks (2t, 2t+1) between two launches by the choice
  // sparse_pair_plan_kernel wrote per pair: pair_mode 1 (this 128-row kernel) runs the pairs
  // with choice 1, pair_mode 2 (a 64-row kernel: the split kernel S, or this kernel's A) the
  // others.
  if constexpr (kMode == FwdMode::kSparse) {
    const int pair = kUnion ? tile : tile >> 1;
    const int64_t pair_id = (static_cast<int64_t>(b) * p.hq + h) * ((p.n_qtiles + 1) / 2) + pair;
    if (p.pair_mode != 0 && (p.pair_choice[pair_id] != 0) != (p.pair_mode == 1)) return;
    if constexpr (kUnion) {
      // Flags per key tile in the K/V buffers (no copy is in flight yet); a block-wide scan
      // compacts them into the ascending merged list.
      uint8_t* flags = smem + Shape::kQBytes;
      const int nk = p.n_ktiles;
      int c0 = 0, c1 = 0;
      const int64_t rid0 = (static_cast<int64_t>(b) * p.hq + h) * p.n_qtiles + 2 * pair;
      if (m0 < span.sq) {
        c0 = p.tile_counts[rid0];
        if (2 * pair + 1 < p.n_qtiles && m0 + kSparseBlockRows < span.sq) c1 = p.tile_counts[rid0 + 1];
      }
      const int32_t* l0 = p.tile_indices + rid0 * nk;
      const int32_t* l1 = l0 + nk;
      for (int j = tid; j < nk; j += kThreads) flags[j] = 0;
      __syncthreads();
      for (int j = tid; j < c0; j += kThreads) flags[__ldg(l0 + j)] = 1;
      __syncthreads();
      for (int j = tid; j < c1; j += kThreads) flags[__ldg(l1 + j)] |= 2;
      __syncthreads();
      const int per = (nk + kThreads - 1) / kThreads;
      const int j0 = min(nk, tid * per), j1 = min(nk, j0 + per);
      int cnt = 0;
      for (int j = j0; j < j1; ++j) cnt += flags[j] != 0;
      int incl = cnt;
#pragma unroll
      for (int d = 1; d < 32; d <<= 1) {
        const int t = __shfl_up_sync(0xffffffffu, incl, d);
        if ((tid & 31) >= d) incl += t;
      }
      __shared__ int warp_totals[kWarps];
      if ((tid & 31) == 31) warp_totals[tid >> 5] = incl;
      __syncthreads();
      int pos = incl - cnt;
      int u = 0;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) {
        if (w < (tid >> 5)) pos += warp_totals[w];
        u += warp_totals[w];
      }
      for (int j = j0; j < j1; ++j) {
        const int f = flags[j];
        if (f != 0) union_list[pos++] = j | (f << 24);
      }
      n_tiles = u;
      __syncthreads();   // list complete, flags dead before the K/V copies
    }
  }
  if constexpr (!kUnion) {
    if (m0 < span.sq) {
      if constexpr (kIsSparse) {
        const int64_t row_id = (static_cast<int64_t>(b) * p.hq + h) * p.n_qtiles + tile;
        n_tiles = p.tile_counts[row_id];
        tile_list = p.tile_indices + row_id * p.n_ktiles;
      } else {
        int key_end = span.sk;
        if (p.causal) key_end = min(key_end, max(0, m0 + kBM + off));
        n_tiles = (key_end + kBN - 1) / kBN;
      }
    }
  }
  auto tile_at = [&](int i) -> int {
    if constexpr (kUnion) {
      return union_list[i] & 0xffffff;
    } else if constexpr (kIsSparse) {
      return __ldg(tile_list + i);
    } else {
      return i;
    }
  };

  // ---- prologue: Q and the first K/V tile ------------------------------------------------
  const int q_valid = max(0, min(kBM, span.sq - m0));
  load_tile_async<kBM, D, kThreads>(sQ, q_base, p.q_row_stride, q_valid, tid);
  if (n_tiles > 0) {
    const int kt = tile_at(0);
    const int valid = min(kBN, span.sk - kt * kBN);
    load_tile_async<kBN, D, kThreads>(sK0, k_base + kt * kBN * p.k_row_stride, p.k_row_stride,
                                      valid, tid);
    if constexpr (Shape::kSingleBuf) cp_async_commit();   // group: Q and K_0, then V_0
    load_tile_async<kBN, D, kThreads>(sV0, v_base + kt * kBN * p.v_row_stride, p.v_row_stride,
                                      valid, tid);
  } else if constexpr (Shape::kSingleBuf) {
    cp_async_commit();
  }
  cp_async_commit();

  const int warp_row0 = warp * 16 * kMT;   // first row of this warp inside the tile
  const float scale_log2 = p.scale * kLog2e;

  float o[kMT][kDT][4];
  float row_max[kMT][2];
  float row_sum[kMT][2];
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
    for (int dt = 0; dt < kDT; ++dt) o[mt][dt][0] = o[mt][dt][1] = o[mt][dt][2] = o[mt][dt][3] = 0.f;
    row_max[mt][0] = row_max[mt][1] = -INFINITY;
    row_sum[mt][0] = row_sum[mt][1] = 0.f;
  }
  uint32_t qf[Shape::kQInRegs ? kKD : 1][4];
  const int pool_head = h - p.head_begin;
  float* pool_scratch = nullptr;
  if constexpr (kMode == FwdMode::kMaxpool) {
    pool_scratch = p.pool_scratch +
                   (static_cast<int64_t>(b) * p.head_count + pool_head) * p.pool_nbk * p.pool_rows;
  }

  // Tile indices run two iterations ahead of their use, so the (sparse) index load never sits
  // on the path between one iteration's barrier and the next copy.
  int kt = n_tiles > 0 ? tile_at(0) : 0;
  int kt_next = n_tiles > 1 ? tile_at(1) : 0;
  for (int i = 0; i < n_tiles; ++i) {
    const int stage = i & 1;
    // Issued now, needed at the top of the next iteration.
    const int kt_after = i + 2 < n_tiles ? tile_at(i + 2) : 0;
    const int next_valid = i + 1 < n_tiles ? min(kBN, span.sk - kt_next * kBN) : 0;
    if constexpr (Shape::kSingleBuf) {
      cp_async_wait<1>();   // K_i (V_i may still be in flight)
    } else if (i + 1 < n_tiles) {
      const uint32_t nstage = (stage ^ 1) * Shape::kKVBytes;
      load_tile_async<kBN, D, kThreads>(sK0 + nstage, k_base + kt_next * kBN * p.k_row_stride,
                                        p.k_row_stride, next_valid, tid);
      load_tile_async<kBN, D, kThreads>(sV0 + nstage, v_base + kt_next * kBN * p.v_row_stride,
                                        p.v_row_stride, next_valid, tid);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const uint32_t sK = sK0 + (Shape::kSingleBuf ? 0 : stage * Shape::kKVBytes);
    const uint32_t sV = sV0 + (Shape::kSingleBuf ? 0 : stage * Shape::kKVBytes);
    bool active = true;   // warp-uniform: this warp's query block keeps tile kt
    if constexpr (kUnion) active = (union_list[i] >> (24 + (warp_row0 >> 6))) & 1;
    if (active) {

    if constexpr (Shape::kQInRegs) {
      if (i == 0) {
#pragma unroll
        for (int kk = 0; kk < kKD; ++kk)
          ldmatrix_x4(qf[kk], sQ + tile_offset_bytes<D>(warp_row0 + (lane & 15), 2 * kk + (lane >> 4)));
      }
    }

    // ---- S = Q K^T -------------------------------------------------------------------------
    float s[kMT][kNT][4];
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
      for (int nt = 0; nt < kNT; ++nt) s[mt][nt][0] = s[mt][nt][1] = s[mt][nt][2] = s[mt][nt][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < kKD; ++kk) {
      uint32_t a[kMT][4];
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt) {
        if constexpr (Shape::kQInRegs) {
#pragma unroll
          for (int r = 0; r < 4; ++r) a[mt][r] = qf[kk][r];
        } else {
          ldmatrix_x4(a[mt], sQ + tile_offset_bytes<D>(warp_row0 + mt * 16 + (lane & 15),
                                                       2 * kk + (lane >> 4)));
        }
      }
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

    if constexpr (Shape::kSingleBuf) {
      __syncthreads();   // every warp is done with K_i: load K_{i+1} into its place
      if (i + 1 < n_tiles)
        load_tile_async<kBN, D, kThreads>(sK0, k_base + kt_next * kBN * p.k_row_stride,
                                          p.k_row_stride, next_valid, tid);
      cp_async_commit();
    }

    // ---- mask (raw scores; the scale is folded into the exponent below) ---------------------
    const int key0 = kt * kBN;
    const bool need_mask =
        kFine || key0 + kBN > span.sk || (p.causal && key0 + kBN - 1 > m0 + off);
    if (need_mask) {
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          const int row = m0 + warp_row0 + mt * 16 + g + 8 * r;   // relative to the sequence
          const uint8_t* fine_row = nullptr;
          if constexpr (kFine) {
            fine_row = p.fine_mask +
                       ((static_cast<int64_t>(b) * p.hq + h) * p.fine_nbq + row / p.fine_block) *
                           p.fine_nbk;
          }
#pragma unroll
          for (int nt = 0; nt < kNT; ++nt) {
#pragma unroll
            for (int j = 0; j < 2; ++j) {
              const int col = key0 + nt * 8 + 2 * q4 + j;
              bool masked = col >= span.sk || (p.causal && col > row + off);
              if constexpr (kFine) {
                if (!masked && row < span.sq) masked = __ldg(fine_row + col / p.fine_block) == 0;
              }
              if (masked) s[mt][nt][2 * r + j] = -INFINITY;
            }
          }
        }
      }
    }

    // ---- max-pool with blocks of 16 / 32 keys: row max per sub-block of the tile --------------
    if constexpr (kMode == FwdMode::kMaxpool) {
      const int pb = p.pool_block;
      if (pb < kBN) {
        const int nsub = kBN / pb;
        const int per = pb / 8;
#pragma unroll
        for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
          for (int r = 0; r < 2; ++r) {
            const int row = m0 + warp_row0 + mt * 16 + g + 8 * r;
            for (int sb = 0; sb < nsub; ++sb) {
              float v = -INFINITY;
#pragma unroll
              for (int nt = 0; nt < kNT; ++nt)
                if (nt / per == sb) v = fmaxf(v, fmaxf(s[mt][nt][2 * r], s[mt][nt][2 * r + 1]));
              v = quad_max(v);
              const int jb = kt * nsub + sb;
              if (q4 == 0 && row < span.sq && jb < p.pool_nbk)
                pool_scratch[static_cast<int64_t>(jb) * p.pool_rows + row] = v * scale_log2;
            }
          }
        }
      }
    }

    // ---- online softmax (row_max in raw-score units, exponent in log2 units) -----------------
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
        if constexpr (kMode == FwdMode::kMaxpool) {
          // Blocks of >= 64 keys: the tile row max is (part of) the block row max.
          const int pb = p.pool_block;
          // Blocks of 128 keys span two tiles: the second merges with the first's value, which
          // this same thread wrote (no register carries it across iterations).
          const int row = m0 + warp_row0 + mt * 16 + g + 8 * r;
          if (pb >= kBN && q4 == 0 && row < span.sq) {
            float* slot = pool_scratch + static_cast<int64_t>(key0 / pb) * p.pool_rows + row;
            const float v = tile_max * scale_log2;
            *slot = key0 % pb == 0 ? v : fmaxf(v, *slot);
          }
        }
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

    // Rescale O only when some row's running max moved (after the first tiles it rarely does):
    // the vote keeps the branch warp-uniform.
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

    if constexpr (Shape::kSingleBuf) {
      cp_async_wait<1>();   // V_i (K_{i+1} may still be in flight)
      __syncthreads();
    }

    // ---- O += P V ------------------------------------------------------------------------------
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
    }   // active
    __syncthreads();   // the next loads overwrite this stage (single buffer: V_i)
    if constexpr (Shape::kSingleBuf) {
      if (i + 1 < n_tiles)
        load_tile_async<kBN, D, kThreads>(sV0, v_base + kt_next * kBN * p.v_row_stride,
                                          p.v_row_stride, next_valid, tid);
      cp_async_commit();
    }
    kt = kt_next;
    kt_next = kt_after;
  }
  cp_async_wait<0>();   // nothing in flight at exit (also when no tile was visited)

  // ---- epilogue: normalise, write O and lse ----------------------------------------------------
  float lse2[kMT][2];   // log2-domain log-sum-exp per row, -inf for rows without keys
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const float l = quad_sum(row_sum[mt][r]);
      const float inv = l > 0.f ? 1.f / l : 0.f;
      lse2[mt][r] = l > 0.f ? row_max[mt][r] * scale_log2 + __log2f(l) : -INFINITY;
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
              live ? lse2[mt][r] * kLn2 : -INFINITY;
        }
      }
    }
  }

  // ---- max-pool: G[i, j] = max over the rows of block i of exp(rowmax_j - lse) ----------------
  if constexpr (kMode == FwdMode::kMaxpool) {
    const int n_blocks = min(p.pool_nbk, (n_tiles * kBN + p.pool_block - 1) / p.pool_block);
    maxpool_emit_warp<kMT>(p, pool_scratch, b, h, span.sq, m0 + warp_row0, n_blocks, lse2, g, q4);
  }
}

// Variant H's choice per (batch, head, pair of query blocks 2t, 2t+1), one warp each: the pair
// runs in the 128-row union kernel iff u * t128 < (c0 + c1) * t64, u being the size of the union
// of the two lists and c0 / c1 their lengths, t128 / t64 the cost of a key tile in a 128-row CTA
// over that in a 64-row CTA (a 128-row CTA whose warps of one block idle on a tile takes as long
// as with all warps busy). Round 2 measured 5 / 3 against the 64-row kernel A; against the split
// kernel S (round 3, H100: 278 TFLOP/s on random lists vs 310 for the 128-row kernel on full
// ones) it is ~1.8, i.e. 9 / 5: lists overlapping by more than ~45% go to the 128-row kernel.
// Shared memory: one bit per key tile per warp.
template <int kPlanWarps>
__global__ void __launch_bounds__(kPlanWarps * 32) sparse_pair_plan_kernel(const AttnParams p) {
  extern __shared__ uint32_t plan_bits[];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int words = (p.n_ktiles + 31) / 32;
  const int n_pairs = (p.n_qtiles + 1) / 2;
  const int64_t pair_id = static_cast<int64_t>(blockIdx.x) * kPlanWarps + warp;
  if (pair_id >= static_cast<int64_t>(p.batch) * p.hq * n_pairs) return;   // warp-uniform
  const int pair = static_cast<int>(pair_id % n_pairs);
  const int b = static_cast<int>(pair_id / n_pairs / p.hq);
  const SeqSpan span = seq_span(p, b);
  const int pm0 = pair * 2 * kSparseBlockRows;
  const int64_t rid0 = (pair_id / n_pairs) * p.n_qtiles + 2 * pair;
  int c0 = 0, c1 = 0;
  if (pm0 < span.sq) {
    c0 = p.tile_counts[rid0];
    if (2 * pair + 1 < p.n_qtiles && pm0 + kSparseBlockRows < span.sq) c1 = p.tile_counts[rid0 + 1];
  }
  const int32_t* l0 = p.tile_indices + rid0 * p.n_ktiles;
  const int32_t* l1 = l0 + p.n_ktiles;
  uint32_t* bits = plan_bits + warp * words;
  for (int w = lane; w < words; w += 32) bits[w] = 0u;
  __syncwarp();
  for (int j = lane; j < c0; j += 32) {
    const int t = __ldg(l0 + j);
    atomicOr(bits + (t >> 5), 1u << (t & 31));
  }
  __syncwarp();
  int inter = 0;
  for (int j = lane; j < c1; j += 32) {
    const int t = __ldg(l1 + j);
    inter += (bits[t >> 5] >> (t & 31)) & 1u;
  }
#pragma unroll
  for (int d = 16; d > 0; d >>= 1) inter += __shfl_xor_sync(0xffffffffu, inter, d);
  const int u = c0 + c1 - inter;
  if (lane == 0) p.pair_choice[pair_id] = (c0 + c1 == 0 || 9 * u < 5 * (c0 + c1)) ? 1 : 0;
}

}  // namespace seer::kernels::cuda
