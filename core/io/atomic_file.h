// Writes that never leave a half-written file behind: write to `<path>.tmp.<pid>`, flush, fsync,
// then rename over `path` (rename is atomic on POSIX file systems).
#pragma once

#include <filesystem>
#include <functional>
#include <string>

namespace seer::io {

void write_file_atomic(const std::filesystem::path& path, const std::string& contents);

// For large binary outputs: `writer` writes into the temporary path it is given; the file is
// renamed into place only if the writer returns without throwing.
void write_atomic_with(const std::filesystem::path& path,
                       const std::function<void(const std::filesystem::path& tmp)>& writer);

std::string read_file(const std::filesystem::path& path);   // throws naming the path

}  // namespace seer::io
