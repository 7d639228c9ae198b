"""Plots perplexity against measured sparsity, one line per method, from a sweep's results.json.

Usage: ppl_vs_sparsity.py RESULTS.json OUTPUT.png
One panel per context length; the dense perplexity is a dashed horizontal line.
"""
import json
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src: str, dst: str) -> None:
    with open(src) as f:
        cells = json.load(f)["cells"]
    contexts = sorted({c["context"] for c in cells})
    fig, axes = plt.subplots(1, len(contexts), figsize=(5.2 * len(contexts), 4.0), squeeze=False)
    for ax, ctx in zip(axes[0], contexts):
        by_method = defaultdict(list)
        for c in cells:
            if c["context"] == ctx:
                by_method[c["method"]].append((c["sparsity"], c["ppl"]))
        for method, pts in sorted(by_method.items()):
            pts.sort()
            if c_is_dense(method, pts):
                ax.axhline(pts[0][1], color="black", linestyle="--", linewidth=1, label=method)
                continue
            ax.plot([100 * s for s, _ in pts], [p for _, p in pts], marker="o", label=method)
        ax.set_title(f"context {ctx}")
        ax.set_xlabel("measured sparsity (%)")
        ax.set_ylabel("perplexity")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


def c_is_dense(method: str, pts) -> bool:
    return method == "dense" or all(s == 0 for s, _ in pts)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: ppl_vs_sparsity.py RESULTS.json OUTPUT.png")
    main(sys.argv[1], sys.argv[2])
