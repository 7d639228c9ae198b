// Reads the long-text corpora used for perplexity and distillation (see text_corpus.h).
#include "data/text_corpus.h"

#include "core/config/paths.h"
#include "data/data_error.h"
#include "data/text_file.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

namespace seer::data {

namespace fs = std::filesystem;

TextCorpusSpec parse_text_corpus(const config::ConfigReader& r) {
  TextCorpusSpec spec;
  spec.kind = r.get_choice("kind", {"text_dir", "text_file", "jsonl"}, spec.kind);
  spec.path = config::resolve_project_path(r.get<std::string>("path")).string();
  if (r.has("field") && spec.kind != "jsonl") {
    r.fail("field", fmt::format("only used with kind: jsonl (kind is {})", spec.kind));
  }
  spec.field = r.get<std::string>("field", spec.field);
  if (spec.field.empty()) r.fail("field", "expected a non-empty JSON key");
  spec.max_docs = r.get<int64_t>("max_docs", spec.max_docs);
  if (spec.max_docs < 0) r.fail("max_docs", "expected >= 0 (0 = all documents)");
  r.finish();
  return spec;
}

namespace {

bool reached_limit(const std::vector<TextDoc>& docs, int64_t max_docs) {
  return max_docs > 0 && static_cast<int64_t>(docs.size()) >= max_docs;
}

std::vector<TextDoc> load_text_dir(const TextCorpusSpec& spec) {
  std::error_code ec;
  if (!fs::is_directory(spec.path, ec)) {
    throw DataError(fmt::format("{}: not a directory (data.kind = text_dir expects a folder of "
                                ".txt books; run scripts/fetch_books.sh for assets/books)",
                                spec.path));
  }
  // Sorted by file name (byte order), so the corpus order never depends on the file system.
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(spec.path)) {
    if (entry.is_regular_file() && entry.path().extension() == ".txt") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
    return a.filename().string() < b.filename().string();
  });
  if (files.empty()) {
    throw DataError(fmt::format("{}: no .txt files (data.kind = text_dir)", spec.path));
  }
  std::vector<TextDoc> docs;
  for (const auto& file : files) {
    if (reached_limit(docs, spec.max_docs)) break;
    docs.push_back({file.filename().string(), read_text_file(file)});
  }
  return docs;
}

std::vector<TextDoc> load_jsonl(const TextCorpusSpec& spec) {
  std::vector<TextDoc> docs;
  for_each_jsonl_record(spec.path, [&](int64_t line_no, const nlohmann::json& record) {
    const auto it = record.find(spec.field);
    if (it == record.end()) {
      throw DataError(fmt::format("{}:{}: no key '{}' (data.field)", spec.path, line_no,
                                  spec.field));
    }
    if (!it->is_string()) {
      throw DataError(fmt::format("{}:{}: key '{}' is {}, expected a string", spec.path, line_no,
                                  spec.field, it->type_name()));
    }
    docs.push_back({std::to_string(line_no), it->get<std::string>()});
    return !reached_limit(docs, spec.max_docs);
  });
  if (docs.empty()) throw DataError(fmt::format("{}: no records (data.kind = jsonl)", spec.path));
  return docs;
}

}  // namespace

std::vector<TextDoc> load_text_corpus(const TextCorpusSpec& spec) {
  if (spec.kind == "text_dir") return load_text_dir(spec);
  if (spec.kind == "text_file") {
    return {TextDoc{fs::path(spec.path).filename().string(), read_text_file(spec.path)}};
  }
  if (spec.kind == "jsonl") return load_jsonl(spec);
  throw DataError(fmt::format("{}: unknown corpus kind '{}': expected text_dir | text_file | jsonl",
                              spec.path, spec.kind));
}

}  // namespace seer::data
