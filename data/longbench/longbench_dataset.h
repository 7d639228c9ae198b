// LongBench samples and prompts (THUDM/LongBench pred.py): the JSONL format (`input`, `context`,
// `answers`, `all_classes`, `length`, `dataset`, `_id`), the per-dataset prompt template and
// generation length (configs/benchmarks/longbench/*.json), prompt formatting with Python's
// str.format rules, and middle truncation of the tokenised prompt to the model's window.
#pragma once

#include "data/text_tokenizer.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace seer::data {

struct LongBenchSample {
  std::string dataset;
  std::string id;                        // `_id`
  std::string input;                     // the question / instruction
  std::string context;                   // the long document(s)
  std::vector<std::string> answers;
  std::vector<std::string> all_classes;  // classification datasets; empty when null
  int64_t length = 0;                    // words (English) or characters (Chinese), per LongBench
  nlohmann::json record;                 // the whole line, for templates naming other fields
};

// Reads a LongBench JSONL file in file order; `max_samples` 0 = all. Errors name path:line and
// the key.
std::vector<LongBenchSample> load_longbench_jsonl(const std::filesystem::path& path,
                                                  int64_t max_samples = 0);

struct LongBenchTask {
  std::string dataset;
  std::string prompt_template;   // `{context}` / `{input}` placeholders
  int64_t max_gen = 0;           // tokens to generate
};

// The template and generation length of `dataset` ("_e" suffix allowed) from
// <definitions_dir>/dataset2prompt.json and dataset2maxlen.json.
LongBenchTask load_longbench_task(const std::filesystem::path& definitions_dir,
                                  const std::string& dataset);

// template.format(**record): `{name}` takes the record's field (strings as they are, other JSON
// values as JSON text), `{{` and `}}` are literal braces. Unknown fields and unbalanced braces
// throw DataError naming the dataset.
std::string format_longbench_prompt(const LongBenchTask& task, const LongBenchSample& sample);

// pred.py skips the chat template for these few-shot / code datasets (trec, triviaqa, samsum,
// lsht, lcc, repobench-p).
bool longbench_uses_chat_template(const std::string& dataset);

struct TruncatedPrompt {
  std::string text;
  int64_t tokens = 0;          // tokens of `prompt` before truncation
  bool truncated = false;
};

// pred.py: when the prompt has more than `max_length` tokens, keep decode(first half) +
// decode(last half) with half = max_length / 2 (so an odd max_length keeps max_length - 1).
TruncatedPrompt truncate_middle(const TextTokenizer& tokenizer, const std::string& prompt,
                                int64_t max_length);

}  // namespace seer::data
