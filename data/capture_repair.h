// Capture files that a kill or a full disk left damaged in the middle of an append (HDF5 writes in
// place, so a write cut short can leave a file that no longer opens, or whose table of sequences
// points at nothing): finding the damage, undoing the commonest kind, and rewriting a file with
// the complete sequences that still read. The folder writer (data/capture_folder.h) does this
// when it opens a capture folder; what is dropped is captured again.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace seer::data {

// Why the capture file at `path` cannot be trusted, or "" when it can: it opens, carries its
// attributes, and every sequence group opens, with, for complete sequences, every layer's
// datasets, whose stored chunks must end by `data_end` bytes when given. Reads no tensor data.
std::string capture_file_damage(const std::filesystem::path& path,
                                std::optional<uint64_t> data_end = std::nullopt);

// The commonest damage, "truncated file": HDF5 recorded a larger size, then the write that would
// have reached it was refused or killed. When `damage` (capture_file_damage's text) says so, the
// file is extended with zeros to the size it records, which makes it open again, and its former
// size is returned: a complete sequence is whole only if its data ends there.
std::optional<uint64_t> extend_truncated_capture_file(const std::filesystem::path& path,
                                                      const std::string& damage);

// Rewrites a damaged capture file (through a temporary and a rename) with the complete sequences
// that still read, as capture_file_damage checks them with `data_end`; the others are dropped, to
// be captured again. Returns how many it kept, or nullopt when the file does not open at all.
std::optional<int64_t> salvage_capture_file(const std::filesystem::path& path,
                                            std::optional<uint64_t> data_end);

}  // namespace seer::data
