"""Plots the measured sparsity of every layer and query head, one panel per sparsity setting.

Usage: sparsity_layers_heads.py RESULTS.json OUTPUT.png [CONTEXT]
RESULTS.json is a sweep's results.json: each cell carries "sparsity_detail" =
{"layers": {"<layer>": {"sparsity": s, "heads": [s, ...]}}}. The panels show the cells of CONTEXT
(default: the longest context), dense settings left out; rows are layers, columns heads, and the
colour is the fraction of causal blocks skipped. A thin strip beside each panel is the layer mean.
"""
import json
import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def layer_head_matrix(detail: dict) -> np.ndarray:
    layers = sorted(detail["layers"], key=int)
    return np.array([detail["layers"][l]["heads"] for l in layers], dtype=float)


def main(src: str, dst: str, context: int | None) -> None:
    with open(src) as f:
        cells = json.load(f)["cells"]
    if context is None:
        context = max(c["context"] for c in cells)
    chosen = [c for c in cells if c["context"] == context and c["sparsity"] > 0
              and c.get("sparsity_detail", {}).get("layers")]
    if not chosen:
        sys.exit(f"sparsity_layers_heads.py: no sparse cell with per-layer detail at context {context}")
    cols = min(4, len(chosen))
    rows = math.ceil(len(chosen) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.6 * rows), squeeze=False)
    image = None
    for ax, cell in zip(axes.flat, chosen):
        m = layer_head_matrix(cell["sparsity_detail"])
        # the layer mean as an extra column, separated by a blank one
        shown = np.concatenate([m, np.full((m.shape[0], 1), np.nan), m.mean(axis=1, keepdims=True)], 1)
        image = ax.imshow(100 * shown, vmin=0, vmax=100, cmap="viridis", aspect="auto",
                          interpolation="nearest")
        ax.set_title(f"{cell['label']}\n{100 * cell['sparsity']:.0f}% overall", fontsize=8)
        heads = m.shape[1]
        # Head numbers where they fit, and the mean column named on its own tick.
        step = max(1, heads // 8)
        ticks = list(range(0, heads, step)) + [heads + 1]
        ax.set_xticks(ticks)
        ax.set_xticklabels([str(t) for t in ticks[:-1]] + ["mean"])
        ax.set_xlabel("query head | layer mean", fontsize=7)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("layer", fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(chosen):]:
        ax.axis("off")
    fig.suptitle(f"Measured sparsity per layer and head, context {context}", fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.92, 0.97))
    bar = fig.add_axes((0.93, 0.15, 0.015, 0.7))
    fig.colorbar(image, cax=bar, label="blocks skipped (%)")
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: sparsity_layers_heads.py RESULTS.json OUTPUT.png [CONTEXT]")
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) == 4 else None)
