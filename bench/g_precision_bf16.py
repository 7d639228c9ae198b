"""How far bf16 numerics move the ground truth G (docs/distillation.md, "Precision of G").

Usage: .venv/bin/python bench/g_precision_bf16.py [S=2048] [BLOCK=64]

Loads the embedded SmolLM2-135M GGUF with transformers, records the post-RoPE Q and K of every
layer on one window of assets/books/emma.txt, rounds them to bf16 (every variant starts from the
same inputs) and compares, per kept row (query blocks >= nbq // 4), in float64:
  exact      G: row softmax, max over b x b tiles, rows renormalised
  kernel     the reference's Triton kernel numerics: per row and key block the largest scaled
             score in log2 units stored in bf16, exp2(R - m) / l in float32, the max over the
             block's rows rounded to bf16, the row sum rounded to bf16, the division rounded to bf16
  g_dtype    our `train.g_dtype: bfloat16` applied to the exact G (round, sum, divide in bf16)
Each variant is renormalised (the loss's optimum is the target renormalised) before
KL(exact || variant); the relative error is over entries of exact G above 1e-3.
"""
import math
import sys

import torch
from transformers import AttentionInterface, AutoModelForCausalLM, AutoTokenizer
from transformers.integrations.sdpa_attention import sdpa_attention_forward

S = int(sys.argv[1]) if len(sys.argv) > 1 else 2048
B = int(sys.argv[2]) if len(sys.argv) > 2 else 64
MODEL_DIR, MODEL = "assets/models", "SmolLM2-135M-Instruct.Q4_1.gguf"

records = []


def recording_attention(module, q, k, v, mask, **kw):
    records.append((q.detach().clone(), k.detach().clone()))
    return sdpa_attention_forward(module, q, k, v, mask, **kw)


def bf16(t):
    return t.to(torch.bfloat16).to(torch.float64)


def variants(q, k):
    H, D = q.shape[0], q.shape[2]
    k = k.repeat_interleave(H // k.shape[0], 0)
    s = (q @ k.transpose(-1, -2)) * D ** -0.5
    s = s.masked_fill(~torch.ones(S, S, dtype=torch.bool).tril(), -math.inf)
    nb = S // B
    m = s.max(-1, keepdim=True).values
    l = torch.exp(s - m).sum(-1, keepdim=True)
    tile_max = s.view(H, S, nb, B).max(-1).values                      # [H, S, nb]
    p = (torch.exp(tile_max - m) / l).view(H, nb, B, nb).max(2).values
    exact = p / p.sum(-1, keepdim=True)
    log2e = 1.0 / math.log(2.0)
    r = bf16(tile_max * log2e).masked_fill(torch.isinf(tile_max), -65504.0)
    row = (torch.exp2(r - m * log2e) / l.float().double()).float().double()
    pk = bf16(row.view(H, nb, B, nb).max(2).values) * torch.ones(nb, nb, dtype=torch.float64).tril()
    kernel = bf16(pk / bf16(pk.float().sum(-1, keepdim=True).double()))
    pr = bf16(exact)
    ours = bf16(pr / bf16(pr.sum(-1, keepdim=True)))
    return exact, {"kernel": kernel, "g_dtype": ours}


def main():
    AttentionInterface.register("recording", recording_attention)
    tok = AutoTokenizer.from_pretrained(MODEL_DIR, gguf_file=MODEL)
    model = AutoModelForCausalLM.from_pretrained(MODEL_DIR, gguf_file=MODEL, dtype=torch.float32,
                                                 attn_implementation="recording")
    text = open("assets/books/emma.txt").read()[200000:400000]
    with torch.no_grad():
        model(tok(text, return_tensors="pt").input_ids[:, :S])
    kl = {"kernel": [], "g_dtype": []}
    rel = {"kernel": [], "g_dtype": []}
    for q, k in records:
        exact, out = variants(bf16(q[0]), bf16(k[0]))
        first = exact.shape[1] // 4
        g = exact[:, first:]
        for name, x in out.items():
            x = x[:, first:]
            x = x / x.sum(-1, keepdim=True)
            terms = torch.where(g > 0, g * (torch.log(g) - torch.log(x.clamp_min(1e-300))),
                                torch.zeros_like(g))
            kl[name].append(terms.sum(-1).mean().item())
            big = g > 1e-3
            rel[name].append(((x - g).abs() / g)[big])
    for name in kl:
        r = torch.cat(rel[name])
        print(f"{name:8s} S={S} b={B}: mean KL(exact || x) per row {sum(kl[name]) / len(kl[name]):.2e}"
              f" (worst layer {max(kl[name]):.2e}); relative error of entries > 1e-3: median"
              f" {r.median():.2e}, p99 {r.quantile(0.99):.2e}, max {r.max():.2e}")


if __name__ == "__main__":
    main()
