// Host launchers of the CUDA attention kernels (kernels/cuda/*.cu). They take the plain
// AttnParams of kernels/params.h, so the callers (kernels/cuda_dispatch.cpp) and nvcc never share
// torch headers. Each throws std::runtime_error naming file:line when a CUDA call fails.
#pragma once

#include "kernels/params.h"

namespace seer::kernels::cuda {

// Tile shape variants of the forward kernel: 'A' = 4 warps x 16 rows (64-row tiles),
// 'B' = 4 warps x 32 rows (128-row tiles), 'C' = 2 warps x 32 rows (64-row tiles). Sparse: 'B'
// runs a pair of 64-row query blocks over the union of their tile lists; 'S' runs 64-row CTAs of
// 4 warps x 32 rows whose two warp pairs split the block's list (flash_fwd_split.cuh, KV-head-
// major CTA order); 'H' (the default where V declines) picks B or S per pair of blocks by how
// much the two lists overlap. Dense only: 'W' (the dense default) = the Hopper wgmma kernel
// (flash_fwd_wgmma.cuh, 2 consumer warpgroups x 64 rows + a TMA producer, 128-key tiles; head
// dim 128 on sm_90a, else B). Sparse only: 'X' (the sparse default) = the Hopper wgmma sparse
// kernel (flash_fwd_wgmma_sparse_pair.cuh, one 64-row query block and its list per CTA of a
// consumer and a TMA producer warpgroup, 128-key steps over pairs of list entries; head dim 128,
// block-64 / 128 lists on sm_90a, else H). (Its 64-key-step predecessor V, rounds 4-5 of
// bench/NOTES.md, was removed once X ran faster everywhere.) The environment variable
// SEER_FLASH_VARIANT overrides the default (benchmarks and tests compare them).
char flash_variant(char default_variant, bool needs_64_row_tiles);
// The letter of SEER_FLASH_VARIANT if it is one of A/B/C/H/S/W/X (H, S, X: sparse launcher
// only; W: dense launcher only), else the default.
char flash_variant_raw(char default_variant);

// Dense causal/non-causal attention (+ lse when p.lse is set).
void launch_attention_dense(const AttnParams& p);
// Variant W of the dense path; false (nothing launched) where it does not apply: head dim
// other than 128, a device other than Hopper, or a build without sm_90a code.
bool launch_attention_dense_wgmma(const AttnParams& p);
// Whether variant W runs here for head dim 128 (tests check that they test it, not B).
bool attention_dense_wgmma_ready();
// Dense attention plus the unnormalised max-pool map in p.pool_out (see params.h): variant W's
// maxpool mode by default (SEER_FLASH_VARIANT=B/A/C forces the mma.sync kernel), B where W
// declines.
void launch_attention_maxpool(const AttnParams& p);
// Variant W in maxpool mode; false (nothing launched) where it does not apply: pool block other
// than 64, head dim other than 128, a device other than Hopper, or a build without sm_90a code.
bool launch_attention_maxpool_wgmma(const AttnParams& p);
// Whether the maxpool mode of W runs here for head dim 128 and pool block 64.
bool attention_maxpool_wgmma_ready();
// Block-sparse attention over the 64 x 64 tile lists of p.tile_counts / p.tile_indices.
void launch_attention_sparse(const AttnParams& p);
// Variant X of the sparse path; false (nothing launched) where it does not apply: head dim other
// than 128, an element mask (p.fine_mask), a device other than Hopper, no sm_90a code.
bool launch_attention_sparse_wgmma_pair(const AttnParams& p);
// Whether variant X runs here for head dim 128 (tests check that they test it, not H).
bool attention_sparse_wgmma_pair_ready();

// Query rows per tile of the sparse kernel (the tile lists are built for this size).
constexpr int kSparseTileRows = 64;
constexpr int kKeyTile = 64;

}  // namespace seer::kernels::cuda
