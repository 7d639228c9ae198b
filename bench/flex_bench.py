"""FlexAttention peer of the kernel benchmark (issue 5): the same shape and block masks as
experiments/bench_kernels_lib.cpp (per-head random block masks, diagonal kept, seeded
the same way on the CUDA generator), BlockMask built directly from the block lists (diagonal
blocks partial with the causal mask_mod, the others full), kernel_options BLOCK_M/N = the block (64 in the paper's setting).

Usage: python3 bench/flex_bench.py OUT.json [--seqs 8192,32768,131072] [--keeps 1,0.5,...]
           [--seed 1234] [--batch 1] [--q-heads 32] [--kv-heads 8] [--head-dim 128] [--block 64]
Writes {"rows": [...]} with impl "flex"; the bench_kernels stage (bench.flex) and
scripts/gpu-check.sh merge them into kernels_<gpu>.json.
"""
import argparse
import json
import math
import sys

import torch
import triton
from torch.nn.attention.flex_attention import BlockMask, flex_attention


def causal(b, h, q_idx, kv_idx):
    return q_idx >= kv_idx


def block_mask_for(mask, block):
    """mask [B, H, nb, nb] bool (diagonal kept) -> BlockMask with full off-diagonal blocks."""
    B, H, nb, _ = mask.shape
    rows = torch.arange(nb, device=mask.device)
    strict = mask & (rows[None, :] < rows[:, None])  # kept blocks strictly below the diagonal
    full_counts = strict.sum(-1, dtype=torch.int32)
    key = rows[None, None, None, :] + (~strict).to(torch.int64) * nb
    full_idx = (key.sort(-1).values % nb).to(torch.int32)
    part_counts = torch.ones(B, H, nb, dtype=torch.int32, device=mask.device)
    part_idx = rows.to(torch.int32).view(1, 1, nb, 1).expand(B, H, nb, nb).contiguous()
    return BlockMask.from_kv_blocks(part_counts, part_idx, full_counts, full_idx,
                                    BLOCK_SIZE=block, mask_mod=causal)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seqs", default="8192,32768,131072")
    ap.add_argument("--keeps", default="1.0,0.5,0.3,0.1,0.05")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--q-heads", type=int, default=32)
    ap.add_argument("--kv-heads", type=int, default=8)
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--block", type=int, default=64)
    a = ap.parse_args()
    B, Hq, Hkv, D, block = a.batch, a.q_heads, a.kv_heads, a.head_dim, a.block
    flex = torch.compile(flex_attention, dynamic=False)
    rows = []
    for S in [int(s) for s in a.seqs.split(",")]:
        q = torch.randn(B, Hq, S, D, device="cuda", dtype=torch.bfloat16)
        k = torch.randn(B, Hkv, S, D, device="cuda", dtype=torch.bfloat16)
        v = torch.randn(B, Hkv, S, D, device="cuda", dtype=torch.bfloat16)
        nb = (S + block - 1) // block
        seed = a.seed + S
        flops = 4.0 * S * (S + 1) / 2 * D * Hq * B
        for keep in [float(x) for x in a.keeps.split(",")]:
            g = torch.Generator(device="cuda")
            g.manual_seed(seed)
            seed += 1
            mask = torch.rand(B, Hq, nb, nb, generator=g, device="cuda") < keep
            mask |= torch.eye(nb, dtype=torch.bool, device="cuda")
            mask &= torch.ones(nb, nb, dtype=torch.bool, device="cuda").tril()
            kept = mask.sum().item() / (B * Hq * nb * (nb + 1) / 2)
            bm = block_mask_for(mask, block)
            fn = lambda: flex(q, k, v, block_mask=bm, enable_gqa=True,
                              kernel_options={"BLOCK_M": block, "BLOCK_N": block})
            try:
                fn()
                torch.cuda.synchronize()
                ms = triton.testing.do_bench(fn, warmup=100, rep=400 if S < 100000 else 2000,
                                             return_mode="median")
            except Exception as e:  # report and go on: one failure must not lose the rest
                print(f"flex seq {S} keep {keep}: failed: {e}", file=sys.stderr)
                continue
            row = {"impl": "flex", "seq": S, "keep": keep, "kept": kept, "block": block,
                   "ms": ms, "tflops": flops * kept / (ms * 1e-3) / 1e12, "max_rel_err": None}
            print(json.dumps(row), flush=True)
            rows.append(row)
            del bm
        del q, k, v
        torch.cuda.empty_cache()
    with open(a.out, "w") as f:
        json.dump({"rows": rows, "torch": torch.__version__,
                   "gpu": torch.cuda.get_device_name(0)}, f, indent=1)


if __name__ == "__main__":
    main()
