"""Plots perplexity against measured sparsity, one line per method, from a sweep's results.json.

Usage: ppl_vs_sparsity.py RESULTS.json OUTPUT.png
One panel per context length; the dense perplexity is a dashed horizontal line. Every method has
its own colour and marker; a method that ran with gates other than the sweep's (e.g. the gates
of an earlier training) is drawn dashed and labelled with those gates. Each point is labelled with
its setting (the cell's label less the method's name, e.g. "tau=0.01"), and the title names the
model and the evaluation text. Faint vertical lines mark the equal-sparsity targets of
equal_sparsity.md.
"""
import json
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "*", "h", "p"]
TARGETS = [50, 70, 80, 90, 95]


def method_label(method: str, gates: str, default_gates: str) -> str:
    if gates and gates != default_gates:
        return f"{method} (gates: {gates})"
    return method


def setting_of(label: str, method: str) -> str:
    """'gate tau=0.01' -> 'tau=0.01'; several values stay together ('k=4 keep_sink=true')."""
    rest = label[len(method):].strip() if label.startswith(method) else label
    return rest.replace("target_sparsity=", "target ")


def run_title(doc: dict) -> str:
    config = doc.get("config", {})
    model = config.get("model", {}).get("name", "")
    text = config.get("data", {}).get("eval", {})
    name = ""
    if isinstance(text, dict):
        files = text.get("include") or text.get("path") or ""
        name = ", ".join(files) if isinstance(files, list) else str(files)
    parts = [p for p in (model, f"held-out text: {name}" if name else "") if p]
    return "Perplexity against measured sparsity" + (f" ({', '.join(parts)})" if parts else "")


def main(src: str, dst: str) -> None:
    with open(src) as f:
        doc = json.load(f)
    cells = doc["cells"]
    default_gates = doc.get("gates", "")
    contexts = sorted({c["context"] for c in cells})
    # One style per method, the same in every panel.
    methods = []
    for c in cells:
        key = (c["method"], c.get("gates", ""))
        if key not in methods:
            methods.append(key)
    # Past ten methods the default cycle repeats its colours; tab20 keeps them apart.
    colours = (plt.rcParams["axes.prop_cycle"].by_key()["color"] if len(methods) <= 10
               else [plt.get_cmap("tab20")(i) for i in range(20)])
    styles = {}
    for i, key in enumerate(methods):
        own_gates = bool(key[1]) and key[1] != default_gates
        styles[key] = dict(color=colours[i % len(colours)], marker=MARKERS[i % len(MARKERS)],
                           linestyle="--" if own_gates else "-")
    fig, axes = plt.subplots(1, len(contexts), figsize=(6.0 * len(contexts), 4.6), squeeze=False)
    for ax, ctx in zip(axes[0], contexts):
        by_method = defaultdict(list)
        for c in cells:
            if c["context"] == ctx:
                by_method[(c["method"], c.get("gates", ""))].append(
                    (c["sparsity"], c["ppl"], setting_of(c.get("label", ""), c["method"])))
        dense = [pts[0][1] for key, pts in by_method.items() if is_dense(key[0], pts)]
        sparse_ppl = []
        for key in methods:
            pts = sorted(by_method.get(key, []))
            if not pts:
                continue
            label = method_label(key[0], key[1], default_gates)
            if is_dense(key[0], pts):
                ax.axhline(pts[0][1], color="black", linestyle=":", linewidth=1, label=label)
                continue
            sparse_ppl += [p for _, p, _ in pts]
            ax.plot([100 * s for s, _, _ in pts], [p for _, p, _ in pts], label=label, markersize=4,
                    linewidth=1.2, **styles[key])
            for s, p, setting in pts:
                if setting:
                    ax.annotate(setting, (100 * s, p), textcoords="offset points", xytext=(3, 3),
                                fontsize=5, color=styles[key]["color"], alpha=0.8,
                                annotation_clip=True)
        for t in TARGETS:
            ax.axvline(t, color="grey", alpha=0.15, linewidth=0.8)
        if dense and sparse_ppl:
            # The range that matters (up to 1.4 x dense, a 40% rise) stays readable; worse
            # points leave the panel at the top.
            top = min(max(sparse_ppl), 1.4 * min(dense))
            ax.set_ylim(min(dense) * 0.98, top * 1.02)
        ax.set_title(f"context {ctx}")
        ax.set_xlabel("measured sparsity (%)")
        ax.set_ylabel("perplexity")
        ax.grid(alpha=0.3)
    fig.suptitle(run_title(doc), fontsize=10)
    handles, labels = axes[0][0].get_legend_handles_labels()
    seen = dict(zip(labels, handles))
    for ax in axes[0][1:]:
        for h, l in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(l, h)
    fig.legend(list(seen.values()), list(seen.keys()), loc="lower center",
               ncol=min(5, len(seen)), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06 + 0.035 * ((len(seen) - 1) // 5), 1, 1))
    fig.savefig(dst, dpi=110, bbox_inches="tight")   # keeps a legend wider than one panel


def is_dense(method: str, pts) -> bool:
    return method == "dense" or all(pt[0] == 0 for pt in pts)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: ppl_vs_sparsity.py RESULTS.json OUTPUT.png")
    main(sys.argv[1], sys.argv[2])
