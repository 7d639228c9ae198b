#!/usr/bin/env python3
"""Reference scores from LongBench's official metrics, for tests/eval/longbench_metrics_test.cpp.

The metric functions below are LongBench's metrics.py and eval.py (THUDM/LongBench, MIT licence)
copied verbatim except that the Chinese tokenizer is a parameter: `jieba` (official) or `chars`
(the C++ stand-in, data/metrics/longbench_metrics.h zh_tokens), so the C++ port can be checked
exactly and the jieba gap measured. Needs the PyPI packages rouge, fuzzywuzzy, jieba (and NOT
python-Levenshtein, which LongBench does not install and which changes fuzz.ratio).

Usage: longbench_reference.py <cases.json> <out.json>
  cases: {"zh": "chars"|"jieba", "metrics": [{"metric", "prediction", "ground_truth",
          "all_classes"}], "datasets": [{"dataset", "predictions", "answers", "lengths",
          "all_classes"}]}
  out:   {"metrics": [score], "datasets": [{"score", "e": {bucket: score}}],
          "difflib": true when fuzzywuzzy uses difflib}
"""
import json
import re
import string
import sys
import warnings
from collections import Counter

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fuzzywuzzy import fuzz
import difflib
import numpy as np
from rouge import Rouge

ZH_MODE = "chars"


def zh_cut(text):
    if ZH_MODE == "jieba":
        import jieba
        jieba.setLogLevel(60)
        return list(jieba.cut(text, cut_all=False))
    # Mirror of zh_tokens(): ASCII letter/digit runs whole, every other character alone.
    return re.findall(r"[A-Za-z0-9]+|.", text, flags=re.S)


# ---- LongBench metrics.py ----
def normalize_answer(s):
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def normalize_zh_answer(s):
    def white_space_fix(text):
        return "".join(text.split())

    def remove_punc(text):
        cn_punctuation = "！？｡。＂＃＄％＆＇（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～｟｠｢｣､、〃》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟〰〾〿–—‘’‛“”„‟…‧﹏."
        all_punctuation = set(string.punctuation + cn_punctuation)
        return "".join(ch for ch in text if ch not in all_punctuation)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_punc(lower(s)))


def count_score(prediction, ground_truth, **kwargs):
    numbers = re.findall(r"\d+", prediction)
    right_num = 0
    for number in numbers:
        if str(number) == str(ground_truth):
            right_num += 1
    final_score = 0.0 if len(numbers) == 0 else right_num / len(numbers)
    return float(final_score)


def retrieval_score(prediction, ground_truth, **kwargs):
    pattern = r'Paragraph (\d+)'
    matches = re.findall(pattern, ground_truth)
    ground_truth_id = matches[0]
    numbers = re.findall(r"\d+", prediction)
    right_num = 0
    for number in numbers:
        if str(number) == str(ground_truth_id):
            right_num += 1
    final_score = 0.0 if len(numbers) == 0 else right_num / len(numbers)
    return float(final_score)


def retrieval_zh_score(prediction, ground_truth, **kwargs):
    pattern = r'段落(\d+)'
    matches = re.findall(pattern, ground_truth)
    ground_truth_id = matches[0]
    numbers = re.findall(r"\d+", prediction)
    right_num = 0
    for number in numbers:
        if str(number) == str(ground_truth_id):
            right_num += 1
    final_score = 0.0 if len(numbers) == 0 else right_num / len(numbers)
    return float(final_score)


def code_sim_score(prediction, ground_truth, **kwargs):
    all_lines = prediction.lstrip('\n').split('\n')
    prediction = ""
    for line in all_lines:
        if ('`' not in line) and ('#' not in line) and ('//' not in line):
            prediction = line
            break
    return (fuzz.ratio(prediction, ground_truth) / 100)


def classification_score(prediction, ground_truth, **kwargs):
    em_match_list = []
    all_classes = kwargs["all_classes"]
    for class_name in all_classes:
        if class_name in prediction:
            em_match_list.append(class_name)
    for match_term in em_match_list:
        if match_term in ground_truth and match_term != ground_truth:
            em_match_list.remove(match_term)
    if ground_truth in em_match_list:
        score = (1.0 / len(em_match_list))
    else:
        score = 0.0
    return score


def rouge_score(prediction, ground_truth, **kwargs):
    rouge = Rouge()
    try:
        scores = rouge.get_scores([prediction], [ground_truth], avg=True)
    except:  # noqa: E722 - the official scorer swallows everything, RecursionError included
        return 0.0
    return scores["rouge-l"]["f"]


def rouge_zh_score(prediction, ground_truth, **kwargs):
    prediction = " ".join(list(zh_cut(prediction)))
    ground_truth = " ".join(list(zh_cut(ground_truth)))
    score = rouge_score(prediction, ground_truth)
    return score


def f1_score(prediction, ground_truth, **kwargs):
    common = Counter(prediction) & Counter(ground_truth)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction)
    recall = 1.0 * num_same / len(ground_truth)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def qa_f1_score(prediction, ground_truth, **kwargs):
    normalized_prediction = normalize_answer(prediction)
    normalized_ground_truth = normalize_answer(ground_truth)

    prediction_tokens = normalized_prediction.split()
    ground_truth_tokens = normalized_ground_truth.split()
    return f1_score(prediction_tokens, ground_truth_tokens)


def qa_f1_zh_score(prediction, ground_truth, **kwargs):
    prediction_tokens = list(zh_cut(prediction))
    ground_truth_tokens = list(zh_cut(ground_truth))
    prediction_tokens = [normalize_zh_answer(token) for token in prediction_tokens]
    ground_truth_tokens = [normalize_zh_answer(token) for token in ground_truth_tokens]
    prediction_tokens = [token for token in prediction_tokens if len(token) > 0]
    ground_truth_tokens = [token for token in ground_truth_tokens if len(token) > 0]
    return f1_score(prediction_tokens, ground_truth_tokens)


# ---- LongBench eval.py ----
dataset2metric = {
    "narrativeqa": qa_f1_score,
    "qasper": qa_f1_score,
    "multifieldqa_en": qa_f1_score,
    "multifieldqa_zh": qa_f1_zh_score,
    "hotpotqa": qa_f1_score,
    "2wikimqa": qa_f1_score,
    "musique": qa_f1_score,
    "dureader": rouge_zh_score,
    "gov_report": rouge_score,
    "qmsum": rouge_score,
    "multi_news": rouge_score,
    "vcsum": rouge_zh_score,
    "trec": classification_score,
    "triviaqa": qa_f1_score,
    "samsum": rouge_score,
    "lsht": classification_score,
    "passage_retrieval_en": retrieval_score,
    "passage_count": count_score,
    "passage_retrieval_zh": retrieval_zh_score,
    "lcc": code_sim_score,
    "repobench-p": code_sim_score,
}


def scorer_e(dataset, predictions, answers, lengths, all_classes):
    scores = {"0-4k": [], "4-8k": [], "8k+": []}
    for (prediction, ground_truths, length) in zip(predictions, answers, lengths):
        score = 0.
        if dataset in ["trec", "triviaqa", "samsum", "lsht"]:
            prediction = prediction.lstrip('\n').split('\n')[0]
        for ground_truth in ground_truths:
            score = max(score, dataset2metric[dataset](prediction, ground_truth, all_classes=all_classes))
        if length < 4000:
            scores["0-4k"].append(score)
        elif length < 8000:
            scores["4-8k"].append(score)
        else:
            scores["8k+"].append(score)
    for key in scores.keys():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # np.mean([]) -> nan, as in the official run
            scores[key] = round(100 * np.mean(scores[key]), 2)
    return scores


def scorer(dataset, predictions, answers, all_classes):
    total_score = 0.
    for (prediction, ground_truths) in zip(predictions, answers):
        score = 0.
        if dataset in ["trec", "triviaqa", "samsum", "lsht"]:
            prediction = prediction.lstrip('\n').split('\n')[0]
        for ground_truth in ground_truths:
            score = max(score, dataset2metric[dataset](prediction, ground_truth, all_classes=all_classes))
        total_score += score
    return round(100 * total_score / len(predictions), 2)


METRICS = {f.__name__: f for f in [qa_f1_score, qa_f1_zh_score, rouge_score, rouge_zh_score,
                                   classification_score, retrieval_score, retrieval_zh_score,
                                   count_score, code_sim_score]}


def nan_to_none(x):
    return None if isinstance(x, float) and x != x else x


def main():
    global ZH_MODE
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = json.load(f)
    ZH_MODE = cases.get("zh", "chars")
    out = {"metrics": [], "datasets": [], "difflib": fuzz.SequenceMatcher is difflib.SequenceMatcher}
    for c in cases.get("metrics", []):
        fn = METRICS[c["metric"]]
        out["metrics"].append(float(fn(c["prediction"], c["ground_truth"],
                                       all_classes=c.get("all_classes", []))))
    for d in cases.get("datasets", []):
        s = scorer(d["dataset"], d["predictions"], d["answers"], d["all_classes"])
        e = scorer_e(d["dataset"], d["predictions"], d["answers"], d["lengths"], d["all_classes"])
        out["datasets"].append({"score": s, "e": {k: nan_to_none(float(v)) for k, v in e.items()}})
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
