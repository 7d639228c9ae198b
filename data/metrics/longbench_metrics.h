// LongBench's metrics (THUDM/LongBench metrics.py), ported with their quirks so that scores
// compare with published ones. Each takes one prediction and ONE ground truth; the scorer
// (longbench_scorer.h) takes the max over a sample's answers. Scores are in [0, 1].
//
// Known gap: the official Chinese metrics segment text with jieba (a dictionary + HMM word
// segmenter). We use zh_tokens() instead: every CJK/other character is its own token and runs of
// ASCII letters/digits stay whole (as jieba keeps them). qa_f1_zh and rouge_zh therefore differ
// from the official numbers on Chinese text (tests/eval/longbench_reference.py measures by how
// much); English metrics match the official ones exactly.
#pragma once

#include <string>
#include <vector>

namespace seer::data {

// SQuAD-style normalisation: lower, drop ASCII punctuation, drop articles a/an/the, collapse
// whitespace.
std::string normalize_answer(const std::string& s);
// Chinese normalisation: lower, drop ASCII + Chinese punctuation, drop all whitespace.
std::string normalize_zh_answer(const std::string& s);
// The stand-in for jieba.cut(s, cut_all=False) described above (tokens keep their characters,
// including spaces and punctuation, as jieba's do).
std::vector<std::string> zh_tokens(const std::string& s);

// Bag-of-tokens F1 (Counter intersection); 0 when nothing is shared.
double token_f1(const std::vector<std::string>& prediction,
                const std::vector<std::string>& ground_truth);

double qa_f1_score(const std::string& prediction, const std::string& ground_truth);
double qa_f1_zh_score(const std::string& prediction, const std::string& ground_truth);
double rouge_score(const std::string& prediction, const std::string& ground_truth);
double rouge_zh_score(const std::string& prediction, const std::string& ground_truth);
// Classes named in the prediction (substring), dropping those contained in the ground truth but
// different from it (with Python's skip-after-remove iteration), then 1/count if the ground
// truth is among them.
double classification_score(const std::string& prediction, const std::string& ground_truth,
                            const std::vector<std::string>& all_classes);
// Fraction of the numbers in the prediction equal to the paragraph id in the ground truth
// ("Paragraph 7" / "段落7"). Throws DataError when the ground truth names no paragraph.
double retrieval_score(const std::string& prediction, const std::string& ground_truth);
double retrieval_zh_score(const std::string& prediction, const std::string& ground_truth);
// Fraction of the numbers in the prediction equal to the ground truth.
double count_score(const std::string& prediction, const std::string& ground_truth);
// fuzz.ratio / 100 between the first prediction line without '`', '#' or '//' and the truth.
double code_sim_score(const std::string& prediction, const std::string& ground_truth);

}  // namespace seer::data
