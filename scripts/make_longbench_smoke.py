"""Writes the LongBench-format smoke fixture (configs/benchmarks/longbench/smoke_fixture/*.jsonl).

NOT LongBench: a plumbing check in LongBench's JSONL format, built from the embedded Jane Austen
books (public domain), so that `seer run paper_longbench_smoke` exercises prompts, middle
truncation, generation, the official metrics and the tables without the LongBench release.
Three datasets, two samples each, named after the LongBench dataset whose template and metric
they use:
  narrativeqa           a book excerpt with one planted fact; the question asks for it (qa_f1)
  passage_retrieval_en  numbered passages; the "abstract" is one passage's first sentence
  passage_count         passages with duplicates; the answer is the number of unique ones
Sample 1 of narrativeqa is longer than the smoke window, so it is middle-truncated.

Usage: python scripts/make_longbench_smoke.py [BOOKS_DIR] [OUT_DIR]   (deterministic, seed 7)
"""
import json
import os
import random
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def paragraphs(path):
    text = open(path, encoding="utf-8").read()
    paras = [re.sub(r"\s+", " ", p).strip() for p in re.split(r"\n\s*\n", text)]
    return [p for p in paras if 60 <= len(p.split()) <= 160]


def record(dataset, idx, context, question, answers):
    return {"input": question, "context": context, "answers": answers,
            "length": len(context.split()), "dataset": dataset, "language": "en",
            "all_classes": None, "_id": f"smoke-{dataset}-{idx}"}


def main():
    books = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "assets", "books")
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        ROOT, "configs", "benchmarks", "longbench", "smoke_fixture")
    rng = random.Random(7)
    paras = []
    for name in sorted(os.listdir(books)):
        if name.endswith(".txt"):
            paras += paragraphs(os.path.join(books, name))
    os.makedirs(out, exist_ok=True)

    facts = [("What was the name of the gardener at Hartfield?", "Mr. Abel Whitcombe",
              "The name of the gardener at Hartfield was Mr. Abel Whitcombe."),
             ("In which town did Captain Harville keep his boat?", "Lyme",
              "Captain Harville kept his boat in the town of Lyme.")]
    rows = []
    for i, (q, a, fact) in enumerate(facts):
        n_words = 700 if i == 0 else 350   # sample 0 exceeds the 1536-token smoke window
        start = rng.randrange(0, len(paras) - 40)
        chosen, words = [], 0
        for p in paras[start:]:
            chosen.append(p)
            words += len(p.split())
            if words >= n_words * (2 if i == 0 else 1):
                break
        chosen.insert(1, fact)   # near the start: kept by middle truncation
        rows.append(record("narrativeqa", i, "\n\n".join(chosen), q, [a]))
    write(out, "narrativeqa", rows)

    rows = []
    for i in range(2):
        picks = rng.sample(paras, 6)
        target = rng.randrange(6)
        context = "\n\n".join(f"Paragraph {k + 1}: {p}" for k, p in enumerate(picks))
        first = re.split(r"(?<=[.!?])\s", picks[target])[0]
        rows.append(record("passage_retrieval_en", i, context, first, [f"Paragraph {target + 1}"]))
    write(out, "passage_retrieval_en", rows)

    rows = []
    for i in range(2):
        unique = rng.sample(paras, 3 + i)
        listed = unique + rng.sample(unique, 2)
        rng.shuffle(listed)
        context = "\n\n".join(f"Paragraph {k + 1}: {p}" for k, p in enumerate(listed))
        rows.append(record("passage_count", i, context, "", [str(len(unique))]))
    write(out, "passage_count", rows)


def write(out, dataset, rows):
    with open(os.path.join(out, dataset + ".jsonl"), "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
