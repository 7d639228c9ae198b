// Whole-file reads, JSONL iteration and atomic writes for the dataset readers and writers.
#include "data/text_file.h"

#include "data/data_error.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

namespace seer::data {

namespace fs = std::filesystem;

std::string read_text_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    throw DataError(fmt::format("{}: no such file", path.string()));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(fmt::format("{}: cannot open for reading", path.string()));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw DataError(fmt::format("{}: read error", path.string()));
  return buffer.str();
}

void for_each_jsonl_record(const fs::path& path,
                           const std::function<bool(int64_t, const nlohmann::json&)>& on_record) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    throw DataError(fmt::format("{}: no such file", path.string()));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(fmt::format("{}: cannot open for reading", path.string()));
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();   // CRLF files
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    nlohmann::json record;
    try {
      record = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      throw DataError(fmt::format("{}:{}: invalid JSON: {}", path.string(), line_no, e.what()));
    }
    if (!record.is_object()) {
      throw DataError(fmt::format("{}:{}: expected a JSON object per line, got {}", path.string(),
                                  line_no, record.type_name()));
    }
    if (!on_record(line_no, record)) return;
  }
  if (in.bad()) throw DataError(fmt::format("{}: read error", path.string()));
}

void write_text_file_atomic(const fs::path& path, const std::string& text) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw DataError(fmt::format("{}: cannot open for writing", tmp.string()));
    out << text;
    out.flush();
    if (!out) throw DataError(fmt::format("{}: write error", tmp.string()));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    throw DataError(fmt::format("{}: cannot rename from {}: {}", path.string(), tmp.string(),
                                ec.message()));
  }
}

}  // namespace seer::data
