#!/usr/bin/env python3
"""RULER scores with 95% bootstrap intervals from the cells of an eval_ruler stage, finished or not.

eval_ruler writes table.md only when every cell is done; a run cut short (a device call's time
limit) leaves complete cells/<id>/samples.jsonl files. This reads them and prints, per cell, the
average over tasks (and over the tasks where the reference cell scores above zero), the measured
sparsity, and the paired difference to the reference cell with a percentile bootstrap interval:
the samples of each task resampled (the same resampled prompts for both cells), as eval_ruler's
vs_dense.md does. Scores are in points (0-100).

usage: ruler_cells_table.py CELLS_DIR [--reference dense_len8192] [--resamples 2000] [--seed 0]
"""
import argparse
import json
import pathlib
import random


def load(cell):
    by_task = {}
    for line in open(cell / "samples.jsonl"):
        r = json.loads(line)
        by_task.setdefault(r["task"], {})[r["index"]] = r
    return by_task


def task_mean(by_task, task, indices):
    return 100.0 * sum(by_task[task][i]["score"] for i in indices) / len(indices)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cells", type=pathlib.Path)
    ap.add_argument("--reference", default="dense_len8192")
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    ref = load(a.cells / a.reference)
    tasks = sorted(ref)
    scoring = [t for t in tasks if task_mean(ref, t, sorted(ref[t])) > 0]
    rng = random.Random(a.seed)
    # One set of resampled indices per task and resample, shared by every cell (paired).
    draws = [{t: [rng.choice(sorted(ref[t])) for _ in ref[t]] for t in tasks}
             for _ in range(a.resamples)]
    print(f"reference {a.reference}; tasks where it scores above zero: {', '.join(scoring)}\n")
    print("| cell | samples | sparsity | average (all tasks) | average (reference > 0) "
          "| minus reference (reference > 0) [95%] |")
    print("|---|---|---|---|---|---|")
    for cell in sorted(p for p in a.cells.iterdir() if (p / "samples.jsonl").exists()):
        cur = load(cell)
        n = sum(len(v) for v in cur.values())
        complete = all(t in cur and set(cur[t]) == set(ref[t]) for t in tasks)
        sparsity = sum(r["sparsity"] for v in cur.values() for r in v.values()) / max(n, 1)
        if not complete:
            print(f"| {cell.name} | {n} (incomplete) | {100 * sparsity:.1f}% | - | - | - |")
            continue
        full = sum(task_mean(cur, t, sorted(cur[t])) for t in tasks) / len(tasks)
        part = sum(task_mean(cur, t, sorted(cur[t])) for t in scoring) / len(scoring)
        diffs = sorted(sum(task_mean(cur, t, d[t]) - task_mean(ref, t, d[t]) for t in scoring)
                       / len(scoring) for d in draws)
        lo, hi = diffs[int(0.025 * len(diffs))], diffs[int(0.975 * len(diffs)) - 1]
        base = sum(task_mean(ref, t, sorted(ref[t])) for t in scoring) / len(scoring)
        print(f"| {cell.name} | {n} | {100 * sparsity:.1f}% | {full:.2f} | {part:.2f} "
              f"| {part - base:+.2f} [{lo:+.2f}, {hi:+.2f}] |")
    print("\n| task | " + " | ".join(c.name for c in sorted(a.cells.iterdir())) + " |")
    print("|---|" + "---|" * len(list(a.cells.iterdir())))
    for t in tasks:
        row = []
        for cell in sorted(a.cells.iterdir()):
            cur = load(cell)
            row.append(f"{task_mean(cur, t, sorted(cur[t])):.0f} ({len(cur[t])})" if t in cur else "-")
        print(f"| {t} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
