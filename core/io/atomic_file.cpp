#include "core/io/atomic_file.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace fs = std::filesystem;

namespace seer::io {
namespace {

fs::path temp_path_for(const fs::path& path) {
  return fs::path(path.string() + fmt::format(".tmp.{}", static_cast<long>(::getpid())));
}

void fsync_path(const fs::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

void write_atomic_with(const fs::path& path, const std::function<void(const fs::path&)>& writer) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  const fs::path tmp = temp_path_for(path);
  try {
    writer(tmp);
    fsync_path(tmp);
    fs::rename(tmp, path);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
}

void write_file_atomic(const fs::path& path, const std::string& contents) {
  write_atomic_with(path, [&](const fs::path& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) {
      throw std::runtime_error(
          fmt::format("{}: cannot open for writing: {}", tmp.string(), std::strerror(errno)));
    }
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.flush();
    if (!out) throw std::runtime_error(fmt::format("{}: write failed", tmp.string()));
  });
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error(
        fmt::format("{}: cannot open: {}", path.string(), std::strerror(errno)));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace seer::io
