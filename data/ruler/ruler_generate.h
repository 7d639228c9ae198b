// RULER's 13 synthetic tasks (NVIDIA/RULER scripts/data/synthetic/*.py): niah_* (repeat, essay
// and needle haystacks; word / number / uuid keys and values), vt, cwe, fwe, qa_1 / qa_2, with
// RULER's templates from tasks.yaml and exact length targeting: for each sample the size knob
// (haystack sentences, noise lines, words, documents) is the largest for which
// tokens(prompt) + tokens_to_generate <= max_seq_length, found by binary search.
//
// Differences from RULER, all documented in the report: random streams (see ruler_random.h);
// sentence splitting of the essay at [.!?] + whitespace instead of nltk punkt; vt's one-shot
// example is a fresh small instance (RULER re-randomises a generated one); the essay repeats when a
// length needs more words than it has; the essay file may also be plain text (a .txt book).
#pragma once

#include "data/ruler/ruler_definitions.h"
#include "data/ruler/ruler_qa.h"
#include "data/text_tokenizer.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace seer::data {

struct RulerResources {
  std::string essay_path;      // JSON {"text": ...}, e.g. PaulGrahamEssays.json; "" = none
  std::string squad_path;      // SQuAD v2 dev JSON for qa_1; "" = none
  std::string hotpotqa_path;   // HotpotQA dev JSON for qa_2; "" = none
};

struct RulerSample {
  std::string task;
  int64_t index = 0;
  std::string input;            // the whole prompt, chat wrapper and answer prefix included
  std::string answer_prefix;    // the formatted answer prefix that ends `input`
  std::vector<std::string> outputs;   // references
  int64_t length = 0;           // tokens(input) + tokens_to_generate
  int64_t max_seq_length = 0;
  int64_t tokens_to_generate = 0;
  int64_t size = 0;             // the size knob the search settled on
  std::string metric;
};

class RulerGenerator {
 public:
  RulerGenerator(RulerDefinitions defs, RulerWords words, RulerResources resources,
                 const TextTokenizer& tokenizer, std::string chat_wrapper = "base");

  // Why `task` cannot run here (qa without its dataset, essay haystack without an essay file),
  // or nullopt when it can.
  std::optional<std::string> unavailable_reason(const std::string& task) const;

  // `num_samples` samples of `task` at `max_seq_length`; sample i uses seed (seed, task, i).
  // Throws DataError when the task is unavailable or even the smallest instance is too long.
  std::vector<RulerSample> generate(const std::string& task, int64_t max_seq_length,
                                    int64_t num_samples, uint64_t seed) const;

  const RulerDefinitions& definitions() const { return defs_; }

 private:
  struct Instance {
    std::string input, answer_prefix;
    std::vector<std::string> outputs;
  };
  Instance make(const RulerTaskDef& task, int64_t size, int64_t index, uint64_t seed,
                int64_t max_seq_length) const;
  Instance make_niah(const RulerTaskDef& task, int64_t size, uint64_t seed) const;
  Instance make_vt(const RulerTaskDef& task, int64_t size, uint64_t seed) const;
  Instance make_cwe(const RulerTaskDef& task, int64_t size, uint64_t seed,
                    int64_t max_seq_length) const;
  Instance make_fwe(const RulerTaskDef& task, int64_t size, uint64_t seed) const;
  Instance make_qa(const RulerTaskDef& task, int64_t size, int64_t index, uint64_t seed) const;
  // Wrapper + family template + answer prefix, with the field values; splits off the prefix.
  Instance finish(const std::string& full_template, const std::string& prefix_template,
                  const std::map<std::string, std::string>& fields,
                  std::vector<std::string> outputs) const;
  // Largest size in [min_size, cap] whose prompt fits, searched from `guess`.
  int64_t fit_size(const RulerTaskDef& task, int64_t index, uint64_t seed, int64_t max_seq_length,
                   int64_t guess, int64_t* tokens) const;
  int64_t max_size(const RulerTaskDef& task, int64_t index) const;
  std::string wrapped_template(const RulerFamily& family) const;
  int64_t min_size(const RulerTaskDef& task) const;

  RulerDefinitions defs_;
  RulerWords words_;
  RulerResources resources_;
  const TextTokenizer& tokenizer_;
  std::string chat_wrapper_;
  std::vector<std::string> essay_words_;   // loaded once when essay_path is set
  std::shared_ptr<const RulerQaData> squad_, hotpotqa_;
};

}  // namespace seer::data
