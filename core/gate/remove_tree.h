// Recursive delete without std::filesystem::remove_all: libtorch.so exports its own copy of
// std::filesystem (torch 2.11 wheel), the dynamic linker binds remove_all to it, and that copy
// crashes (jumps to a null pointer) on a non-empty directory. POSIX nftw instead.
#pragma once

#include <filesystem>

namespace seer::core {

// Removes `path` and everything below it; a missing path is not an error. Throws
// std::runtime_error naming the entry that could not be removed.
void remove_tree(const std::filesystem::path& path);

}  // namespace seer::core
