// Long texts for perplexity and distillation: folders of .txt books (the PG-19 layout), text
// files, or JSONL files with a text field. One corpus spec describes one split of the `data`
// section (train / eval / calib, see experiments/corpus_tokens.h); the embedded default is the
// books and corpus folders that scripts/setup.sh fills (configs/data/embedded_books.yaml).
#pragma once

#include "core/config/config_reader.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace seer::data {

struct TextCorpusSpec {
  std::string kind = "text_dir";      // text_dir | text_file | jsonl
  std::vector<std::string> paths;     // resolved absolute paths: folders (text_dir) or files
  std::vector<std::string> include;   // text_dir: only these file names (each must exist)
  std::vector<std::string> exclude;   // text_dir: every .txt but these (each must exist)
  std::string field = "text";         // jsonl only
  int64_t max_docs = 0;               // 0 = all documents
  // A window over the corpus's token stream (documents joined in order, eos between them):
  // skip the first `skip_tokens`, then read `max_tokens` (0 = to the end).
  int64_t skip_tokens = 0;
  int64_t max_tokens = 0;
};

// Parses one corpus spec (keys: kind, path (a path or a list), include, exclude, field,
// max_docs, skip_tokens, max_tokens; unknown keys are errors). Touches no file.
TextCorpusSpec parse_text_corpus(const config::ConfigReader& r);

// The files the corpus reads, in stream order: the paths in the order given, a folder's .txt files
// sorted by name (byte order), include / exclude applied, max_docs applied to text_dir. Paths as
// found on disk (not canonical). DataError naming the path when one is missing, a folder holds
// no .txt file, or an include / exclude name matches no file.
std::vector<std::filesystem::path> list_corpus_files(const TextCorpusSpec& spec);

struct TextDoc {
  std::string id;     // file name, or file name:line for a JSONL record
  std::string text;
  std::filesystem::path file;   // the file it was read from (as listed)
};

// Documents in a stable order (list_corpus_files, then records in file order), at most max_docs.
// Errors name the path (and line).
std::vector<TextDoc> load_text_corpus(const TextCorpusSpec& spec);

}  // namespace seer::data
