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

namespace {

std::vector<std::string> read_names(const config::ConfigReader& r, const std::string& key) {
  const auto names = r.get<std::vector<std::string>>(key, {});
  if (r.has(key) && !r.tree().at(r.path_of(key)).IsNull() && names.empty()) {
    r.fail(key, "expected a non-empty list of file names (or leave the key out)");
  }
  for (size_t i = 0; i < names.size(); ++i) {
    const auto& n = names[i];
    if (n.empty() || n.find('/') != std::string::npos) {
      r.fail(key, fmt::format("'{}' is not a file name (a name inside the folders of `path`, no "
                              "'/')", n));
    }
    if (std::find(names.begin(), names.begin() + i, n) != names.begin() + i) {
      r.fail(key, fmt::format("'{}' is listed twice", n));
    }
  }
  return names;
}

}  // namespace

TextCorpusSpec parse_text_corpus(const config::ConfigReader& r) {
  TextCorpusSpec spec;
  spec.kind = r.get_choice("kind", {"text_dir", "text_file", "jsonl"}, spec.kind);
  std::vector<std::string> raw;
  if (r.has("path") && r.tree().at(r.path_of("path")).IsSequence()) {
    raw = r.get<std::vector<std::string>>("path");
    if (raw.empty()) r.fail("path", "expected a path or a non-empty list of paths");
  } else {
    raw = {r.get<std::string>("path")};
  }
  for (const auto& p : raw) {
    if (p.empty()) r.fail("path", "expected non-empty paths");
    spec.paths.push_back(config::resolve_project_path(p).string());
  }
  spec.include = read_names(r, "include");
  spec.exclude = read_names(r, "exclude");
  for (const char* key : {"include", "exclude"}) {
    if (r.has(key) && spec.kind != "text_dir") {
      r.fail(key, fmt::format("only used with kind: text_dir (kind is {}; list the files in `path`)",
                              spec.kind));
    }
  }
  if (!spec.include.empty() && !spec.exclude.empty()) {
    r.fail("exclude", "give include or exclude, not both");
  }
  if (r.has("field") && spec.kind != "jsonl") {
    r.fail("field", fmt::format("only used with kind: jsonl (kind is {})", spec.kind));
  }
  spec.field = r.get<std::string>("field", spec.field);
  if (spec.field.empty()) r.fail("field", "expected a non-empty JSON key");
  spec.max_docs = r.get<int64_t>("max_docs", spec.max_docs);
  if (spec.max_docs < 0) r.fail("max_docs", "expected >= 0 (0 = all documents)");
  spec.skip_tokens = r.get<int64_t>("skip_tokens", spec.skip_tokens);
  if (spec.skip_tokens < 0) r.fail("skip_tokens", "expected >= 0");
  spec.max_tokens = r.get<int64_t>("max_tokens", spec.max_tokens);
  if (spec.max_tokens < 0) r.fail("max_tokens", "expected >= 0 (0 = to the end)");
  r.finish();
  return spec;
}

namespace {

std::vector<fs::path> txt_files_of(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw DataError(fmt::format("{}: not a directory (kind text_dir expects a folder of .txt "
                                "books; scripts/setup.sh fetches assets/books and assets/corpus)",
                                dir));
  }
  // Sorted by file name (byte order), so the corpus order never depends on the file system.
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".txt") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
    return a.filename().string() < b.filename().string();
  });
  if (files.empty()) throw DataError(fmt::format("{}: no .txt files (kind text_dir)", dir));
  return files;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// Keeps the files named in `names` (keep = true) or all but them; every name must match a file.
std::vector<fs::path> filter_by_name(const std::vector<fs::path>& files,
                                     const std::vector<std::string>& names, bool keep,
                                     const TextCorpusSpec& spec) {
  for (const auto& n : names) {
    const bool found = std::any_of(files.begin(), files.end(),
                                   [&](const fs::path& f) { return f.filename().string() == n; });
    if (!found) {
      throw DataError(fmt::format("{}: no file '{}' (named in {}) among the .txt files of {}",
                                  joined(spec.paths), n, keep ? "include" : "exclude",
                                  spec.paths.size() > 1 ? "these folders" : "this folder"));
    }
  }
  std::vector<fs::path> out;
  for (const auto& f : files) {
    const bool named = std::find(names.begin(), names.end(), f.filename().string()) != names.end();
    if (named == keep) out.push_back(f);
  }
  if (out.empty()) throw DataError(fmt::format("{}: every .txt file is excluded", joined(spec.paths)));
  return out;
}

}  // namespace

std::vector<fs::path> list_corpus_files(const TextCorpusSpec& spec) {
  std::vector<fs::path> files;
  for (const auto& p : spec.paths) {
    if (spec.kind == "text_dir") {
      const auto found = txt_files_of(p);
      files.insert(files.end(), found.begin(), found.end());
    } else {
      std::error_code ec;
      if (!fs::is_regular_file(p, ec)) {
        throw DataError(fmt::format("{}: no such file (kind {})", p, spec.kind));
      }
      files.emplace_back(p);
    }
  }
  if (!spec.include.empty()) files = filter_by_name(files, spec.include, true, spec);
  if (!spec.exclude.empty()) files = filter_by_name(files, spec.exclude, false, spec);
  // A JSONL file holds many documents: max_docs counts its records, in load_text_corpus.
  if (spec.kind != "jsonl" && spec.max_docs > 0 && static_cast<int64_t>(files.size()) > spec.max_docs) {
    files.resize(spec.max_docs);
  }
  return files;
}

namespace {

bool reached_limit(const std::vector<TextDoc>& docs, int64_t max_docs) {
  return max_docs > 0 && static_cast<int64_t>(docs.size()) >= max_docs;
}

void load_jsonl(const TextCorpusSpec& spec, const fs::path& file, std::vector<TextDoc>& docs) {
  const size_t before = docs.size();
  for_each_jsonl_record(file, [&](int64_t line_no, const nlohmann::json& record) {
    if (reached_limit(docs, spec.max_docs)) return false;
    const auto it = record.find(spec.field);
    if (it == record.end()) {
      throw DataError(fmt::format("{}:{}: no key '{}' (data.field)", file.string(), line_no,
                                  spec.field));
    }
    if (!it->is_string()) {
      throw DataError(fmt::format("{}:{}: key '{}' is {}, expected a string", file.string(),
                                  line_no, spec.field, it->type_name()));
    }
    docs.push_back({fmt::format("{}:{}", file.filename().string(), line_no), it->get<std::string>(), file});
    return true;
  });
  if (docs.size() == before && !reached_limit(docs, spec.max_docs)) {
    throw DataError(fmt::format("{}: no records (kind jsonl)", file.string()));
  }
}

}  // namespace

std::vector<TextDoc> load_text_corpus(const TextCorpusSpec& spec) {
  std::vector<TextDoc> docs;
  for (const auto& file : list_corpus_files(spec)) {
    if (spec.kind == "jsonl") {
      load_jsonl(spec, file, docs);
    } else {
      docs.push_back({file.filename().string(), read_text_file(file), file});
    }
  }
  return docs;
}

}  // namespace seer::data
