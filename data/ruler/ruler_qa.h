// The QA datasets behind RULER's qa_1 (SQuAD v2) and qa_2 (HotpotQA), read as RULER's qa.py
// reads them: unique documents sorted, questions in file order (SQuAD: answerable only).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace seer::data {

struct RulerQuestion {
  std::string query;
  std::vector<std::string> outputs;
  std::vector<int64_t> context;        // gold document ids
  std::vector<int64_t> more_context;   // SQuAD: other paragraphs of the same article
};

struct RulerQaData {
  std::vector<RulerQuestion> questions;
  std::vector<std::string> docs;
};

RulerQaData load_ruler_squad(const std::filesystem::path& path);
RulerQaData load_ruler_hotpotqa(const std::filesystem::path& path);

}  // namespace seer::data
