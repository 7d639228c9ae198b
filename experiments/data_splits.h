// The `data` section: named splits, each a corpus spec (data/text_corpus.h), e.g.
//   data:
//     train: {kind: text_dir, path: [assets/books, assets/corpus/kjv], exclude: [persuasion.txt]}
//     eval:  {kind: text_dir, path: assets/books, include: [persuasion.txt]}
//     calib: {kind: text_dir, path: assets/books, include: [northanger_abbey.txt]}
// capture / distill read `train`, the perplexity stages `eval`, threshold calibration `calib`.
// No two splits may read a common token of a file: check_data_splits_disjoint resolves every split
// to the (canonical file, token range in that file) pieces it reads and compares them. A split
// that reads whole files needs no tokenisation for that; a token window (skip_tokens /
// max_tokens) or a JSONL file cut by max_docs is tokenised up to its end, and only when another
// split reads the same file.
#pragma once

#include "core/config/config_tree.h"
#include "core/tokenizer/bpe_tokenizer.h"
#include "data/text_corpus.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace seer::experiments {

// Names of the splits of `data`, in file order. ConfigError when `data` is absent, empty, or in
// the one-corpus layout of old (`data.kind`, `data.path`, ...).
std::vector<std::string> data_split_names(const config::ConfigTree& config);

// The corpus spec of data.<split>; ConfigError naming the split and the splits there are when
// it is absent.
data::TextCorpusSpec parse_data_split(const config::ConfigTree& config, const std::string& split);

// Parses every split of `data` (for a stage's validate(): key errors before anything runs) and
// checks that `split` is one of them. Touches no file.
void validate_data_splits(const config::ConfigTree& config, const std::string& split);

// Lists the files of `splits` of `data` (empty: every split), reading no text: DataError naming
// the split when a path is missing, a folder holds no .txt file, or an include / exclude name
// matches none. For a stage's check_inputs(): split_tokens reads the file lists of every split
// (the overlap check), so each must be there whichever split the stage scores.
void check_data_split_files(const config::ConfigTree& config,
                            const std::vector<std::string>& splits = {});

// Token ids of documents, each encoded once (encode(text) without BOS) and kept for the caller.
// Keyed by the canonical path of the document's file and its id, so a file reached through two
// paths is encoded once.
class DocTokenCache {
 public:
  explicit DocTokenCache(const tokenizer::BpeTokenizer& tok) : tok_(tok) {}
  const std::vector<int64_t>& tokens(const data::TextDoc& doc);
  bool has(const data::TextDoc& doc) const { return cache_.count(key(doc)) > 0; }
  const tokenizer::BpeTokenizer& tokenizer() const { return tok_; }

 private:
  static std::string key(const data::TextDoc& doc);
  const tokenizer::BpeTokenizer& tok_;
  std::map<std::string, std::vector<int64_t>> cache_;
};

// Throws ConfigError naming both splits, the file and the two token ranges when two splits of
// `data` read a common token of one file (ranges are half-open, so windows that touch do not
// overlap), or when one split reads a file twice. DataError (naming the split) when a path is
// missing.
void check_data_splits_disjoint(const config::ConfigTree& config, DocTokenCache& cache);

}  // namespace seer::experiments
