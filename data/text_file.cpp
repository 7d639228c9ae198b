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
  std::string text = buffer.str();
  // The tokenizer's pre-tokenizer matches UTF-8; a Latin-1 or binary file is a wrong input here.
  const size_t bad = first_invalid_utf8(text);
  if (bad != std::string::npos) {
    throw DataError(fmt::format("{}: not UTF-8 text (byte {} is 0x{:02x}); convert it, e.g. iconv "
                                "-f latin1 -t utf-8", path.string(), bad,
                                static_cast<unsigned char>(text[bad])));
  }
  return text;
}

size_t first_invalid_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;   // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) len = 3, lo = 0xA0;                 // no overlong 3-byte forms
    else if (c == 0xED) len = 3, hi = 0x9F;                 // no surrogates
    else if (c >= 0xE1 && c <= 0xEF) len = 3;
    else if (c == 0xF0) len = 4, lo = 0x90;                 // no overlong 4-byte forms
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else if (c == 0xF4) len = 4, hi = 0x8F;                 // nothing above U+10FFFF
    else return i;
    if (i + len > n || s[i + 1] < lo || s[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k)
      if (s[i + k] < 0x80 || s[i + k] > 0xBF) return i;
    i += len;
  }
  return std::string::npos;
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
