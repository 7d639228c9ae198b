"""Plots speed-up over dense against measured sparsity, one line per series.

Usage: speedup_vs_sparsity.py SPEEDUP.json OUTPUT.png
SPEEDUP.json: {"title": str, "rows": [{"series": str, "sparsity": 0..1, "speedup": float}, ...]}
(written by the bench_prefill stage; series such as "gate @32768"). Dense rows (sparsity 0,
speed-up 1) are the dashed reference line; the dotted line, 1 / (1 - sparsity), is what attention
alone could gain (end to end, the MLP and projections do not shrink).
"""
import json
import re
import sys
import textwrap
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src: str, dst: str) -> None:
    with open(src) as f:
        spec = json.load(f)
    series = defaultdict(list)
    for r in spec["rows"]:
        if r["sparsity"] > 0:
            series[r["series"]].append((r["sparsity"], r["speedup"]))
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    top = 0.0
    for name, pts in sorted(series.items(), key=lambda kv: natural_key(kv[0])):
        pts.sort()
        ax.plot([100 * s for s, _ in pts], [v for _, v in pts], marker="o", label=name)
        top = max(top, max(s for s, _ in pts))
    if top > 0:
        xs = [100 * top * i / 50 for i in range(51)]
        ax.plot(xs, [1 / (1 - x / 100) for x in xs], color="grey", linestyle=":", linewidth=1,
                label="1/(1-sparsity): attention alone")
    ax.axhline(1.0, color="black", linestyle="--", linewidth=1, label="dense")
    ax.set_title("\n".join(textwrap.wrap(spec.get("title", ""), 70)), fontsize=9)
    ax.set_xlabel("measured sparsity (%)")
    ax.set_ylabel("speed-up over dense")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


def natural_key(name: str):
    """"gate @8192" before "gate @16384": digit runs compare as numbers."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: speedup_vs_sparsity.py SPEEDUP.json OUTPUT.png")
    main(sys.argv[1], sys.argv[2])
