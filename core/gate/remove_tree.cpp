#include "core/gate/remove_tree.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ftw.h>
#include <stdexcept>
#include <sys/stat.h>

namespace seer::core {
namespace {

int remove_entry(const char* path, const struct stat*, int, struct FTW*) {
  return std::remove(path) == 0 ? 0 : errno;
}

}  // namespace

void remove_tree(const std::filesystem::path& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return;  // nothing there
  const int rc = ::nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  if (rc != 0)
    throw std::runtime_error(
        fmt::format("cannot remove {}: {}", path.string(), std::strerror(rc > 0 ? rc : errno)));
}

}  // namespace seer::core
