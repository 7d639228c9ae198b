// Small file helpers shared by the dataset readers: whole-file reads and JSON Lines iteration,
// with errors that name the file and line.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace seer::data {

// The bytes of `path`; DataError naming the path when it is missing, unreadable or not UTF-8.
std::string read_text_file(const std::filesystem::path& path);

// Offset of the first byte where `text` stops being well-formed UTF-8 (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF, no cut sequence), or std::string::npos.
size_t first_invalid_utf8(std::string_view text);

// Calls `on_record(line_no, record)` for each non-blank line of a JSONL file (1-based line
// numbers), in file order, until it returns false. Parse errors name path:line.
void for_each_jsonl_record(const std::filesystem::path& path,
                           const std::function<bool(int64_t, const nlohmann::json&)>& on_record);

// Writes `text` to `path` atomically (temp name, flush, rename); creates parent folders.
void write_text_file_atomic(const std::filesystem::path& path, const std::string& text);

}  // namespace seer::data
