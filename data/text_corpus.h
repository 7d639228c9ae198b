// Long texts for perplexity and distillation: a directory of .txt books (the PG-19 layout), one
// text file, or JSONL with a text field. The embedded default is the books that
// scripts/setup.sh extracts into assets/books/.
#pragma once

#include "core/config/config_reader.h"

#include <cstdint>
#include <string>
#include <vector>

namespace seer::data {

struct TextCorpusSpec {
  std::string kind = "text_dir";   // text_dir | text_file | jsonl
  std::string path;                // resolved absolute path
  std::string field = "text";      // jsonl only
  int64_t max_docs = 0;            // 0 = all
};

// Parses the `data` section (keys: kind, path, field, max_docs; unknown keys are errors).
TextCorpusSpec parse_text_corpus(const config::ConfigReader& r);

struct TextDoc {
  std::string id;     // file name or line number
  std::string text;
};

// Documents in a stable order (sorted file names / file order). Errors name the path.
std::vector<TextDoc> load_text_corpus(const TextCorpusSpec& spec);

}  // namespace seer::data
