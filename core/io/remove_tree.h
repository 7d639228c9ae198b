// Deletes a directory tree with plain directory_iterator walks and single-entry removes, instead of
// std::filesystem::remove_all. On the GPU machine's build (GCC 13.3 with the torch 2.11 wheel) a
// distillation run died with a call through a null pointer right after each checkpoint pruning,
// the first remove_all of a non-empty folder in that run, while directory_iterator (used to list
// checkpoints at every save) worked there.
#pragma once

#include <cstdint>
#include <filesystem>

namespace seer::io {

// Removes `path` (a file, a symlink — not followed — or a directory with everything under it).
// Returns how many entries were removed; 0 when `path` does not exist. Throws
// std::filesystem::filesystem_error naming the entry that could not be removed.
std::uintmax_t remove_tree(const std::filesystem::path& path);

}  // namespace seer::io
