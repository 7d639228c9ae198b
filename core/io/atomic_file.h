// Writes that never leave a half-written file behind: write to `<path>.tmp.<pid>`, flush, fsync,
// then rename over `path` (rename is atomic on POSIX file systems).
#pragma once

#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>

namespace seer::io {

void write_file_atomic(const std::filesystem::path& path, const std::string& contents);

// The error for a write of `path` that the system refused with `err` (errno): it names the file
// meant, not a temporary, and the reason ("...: cannot write: File too large").
std::runtime_error write_error(const std::filesystem::path& path, int err);

// For large binary outputs: `writer` writes into the temporary path it is given; the file is
// renamed into place only if the writer returns without throwing.
void write_atomic_with(const std::filesystem::path& path,
                       const std::function<void(const std::filesystem::path& tmp)>& writer);

std::string read_file(const std::filesystem::path& path);   // throws naming the path

// Removes, anywhere under `dir`, the temporaries `<name>.tmp.<pid>` of writes whose process is no
// longer running (killed between its write and its rename): nothing reads them, and a resumed
// stage would otherwise carry them along forever. Returns how many it removed.
int remove_stale_temp_files(const std::filesystem::path& dir);

}  // namespace seer::io
