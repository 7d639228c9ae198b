#!/usr/bin/env python3
"""Recomputes an eval_ppl result with Hugging Face transformers and compares (issue 4, "Done when").

  build/seer run eval_ppl model=smollm2 data=embedded_books eval.context=1024 eval.max_tokens=8192
  .venv/bin/python scripts/check_ppl_vs_transformers.py runs/eval_ppl/<name>/eval_ppl

Reads ppl.json (context, stride, Seer's ppl) and tokens.json (the exact ids) from the stage folder,
loads the same GGUF with transformers (`gguf_file=`, dequantised to float32 by transformers' own
GGUF code), scores the same windows the same way (position p of window [begin, end) predicts token
p from [begin, p); tokens before the previous window's end are not scored again) and prints both
perplexities. Exit status 1 when they differ by more than --tolerance (default 0.5%).
"""
import argparse
import json
import math
import os
import sys

import torch
from transformers import AutoModelForCausalLM


def windows(n, context, stride):
    begin = 0
    while begin < n:
        end = min(begin + context, n)
        if end - begin >= 2:
            yield begin, end
        if end == n:
            break
        begin += stride


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage_dir")
    ap.add_argument("--gguf", default=None, help="default: model path from the run's config")
    ap.add_argument("--tolerance", type=float, default=0.005)
    args = ap.parse_args()
    with open(os.path.join(args.stage_dir, "ppl.json")) as f:
        seer = json.load(f)
    with open(os.path.join(args.stage_dir, "tokens.json")) as f:
        tokens = json.load(f)
    gguf = args.gguf or seer["config"]["model"]["path"]
    if not os.path.isabs(gguf):
        gguf = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", gguf)
    context, stride = int(seer["context"]), int(seer["stride"])

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(gguf), gguf_file=os.path.basename(gguf),
                                                 dtype=torch.float32).eval()
    ids = torch.tensor(tokens, dtype=torch.long)
    nll, count, prev_end = 0.0, 0, 0
    with torch.no_grad():
        for begin, end in windows(len(tokens), context, stride):
            logits = model(input_ids=ids[begin:end][None], use_cache=False).logits[0].double()
            logp = torch.log_softmax(logits, -1)
            first = max(begin + 1, prev_end)
            pos = torch.arange(first, end)
            nll -= logp[pos - 1 - begin, ids[pos]].sum().item()
            count += end - first
            prev_end = end
    ppl = math.exp(nll / count)
    rel = abs(ppl - seer["ppl"]) / ppl
    print(f"tokens scored: seer {seer['tokens_scored']}, transformers {count}")
    print(f"perplexity: seer {seer['ppl']:.6f}, transformers {ppl:.6f}, relative difference {rel:.3e}")
    ok = rel <= args.tolerance and count == seer["tokens_scored"]
    print("OK" if ok else f"MISMATCH (tolerance {args.tolerance})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
