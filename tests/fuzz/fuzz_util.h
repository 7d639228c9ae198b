// Helpers shared by the fuzz targets (libFuzzer, `make fuzz`): the parsers under test read files,
// so each input is written to a per-process scratch folder first; inputs that hold several files
// are split at a separator line.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace seer::fuzz {

// A scratch folder of this process (under $TMPDIR, tmpfs in CI), emptied on each call.
inline std::filesystem::path scratch_dir(const std::string& target) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("seer_fuzz_" + target + "_" + std::to_string(::getpid()));
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir);
  return dir;
}

inline void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The input cut at each occurrence of `separator` (a line such as "\n@@file@@\n"): at most `parts`
// pieces, the last holding the rest.
inline std::vector<std::string> split_input(const uint8_t* data, size_t size,
                                            const std::string& separator, size_t parts) {
  std::string all(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> out;
  size_t from = 0;
  while (out.size() + 1 < parts) {
    const size_t at = all.find(separator, from);
    if (at == std::string::npos) break;
    out.push_back(all.substr(from, at - from));
    from = at + separator.size();
  }
  out.push_back(all.substr(from));
  while (out.size() < parts) out.emplace_back();
  return out;
}

}  // namespace seer::fuzz
