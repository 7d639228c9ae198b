"""Renders Seer heatmaps: ground truth G, gate scores P and the block mask side by side.

Usage: heatmaps.py INPUT.json OUTPUT.png
INPUT.json: {"title": str, "panels": [{"name": str, "matrix": [[...]], "kind": "prob"|"mask"}]}
Probability panels use a log colour scale (block attention spans orders of magnitude); entries
above the causal diagonal are blank. Called by the export_heatmaps stage (analysis/python_plot.h).
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402


def main(src: str, dst: str) -> None:
    with open(src) as f:
        spec = json.load(f)
    panels = spec["panels"]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.2), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        m = np.asarray(panel["matrix"], dtype=np.float64)
        n_q, n_k = m.shape
        offset = n_k - n_q  # queries are the last rows of the key grid (bottom-right causal)
        above = np.triu(np.ones_like(m, dtype=bool), k=1 + offset)
        if panel.get("kind") == "mask":
            shown = np.ma.masked_where(above, m)
            im = ax.imshow(shown, cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
            cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, ticks=[0, 1])
            cb.ax.set_yticklabels(["skipped", "kept"])
        else:
            positive = m[(~above) & (m > 0)]
            vmin = max(float(positive.min()) if positive.size else 1e-6, 1e-6)
            shown = np.ma.masked_where(above | (m <= 0), m)
            im = ax.imshow(shown, cmap="viridis", norm=LogNorm(vmin=vmin, vmax=1.0),
                           interpolation="nearest")
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="block probability")
        ax.set_title(panel["name"])
        ax.set_xlabel("key block")
        ax.set_ylabel("query block")
    fig.suptitle(spec.get("title", ""))
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: heatmaps.py INPUT.json OUTPUT.png")
    main(sys.argv[1], sys.argv[2])
