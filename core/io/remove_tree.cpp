#include "core/io/remove_tree.h"

#include <vector>

namespace fs = std::filesystem;

namespace seer::io {

std::uintmax_t remove_tree(const fs::path& path) {
  const fs::file_status st = fs::symlink_status(path);
  if (!fs::exists(st)) return 0;
  std::uintmax_t removed = 0;
  if (fs::is_directory(st)) {
    // Collect first: removing while iterating leaves the iterator's position unspecified.
    std::vector<fs::path> children;
    for (const auto& e : fs::directory_iterator(path)) children.push_back(e.path());
    for (const auto& c : children) removed += remove_tree(c);
  }
  fs::remove(path);
  return removed + 1;
}

}  // namespace seer::io
