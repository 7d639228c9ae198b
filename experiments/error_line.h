// The one line a failed `seer` command reports: main.cpp prints it on stderr, and the runner ends
// a failed run's log.txt with it, so the log says why the run stopped.
#pragma once

#include <exception>
#include <string>

namespace seer::experiments {

// libtorch's message without its C++ backtrace; any other message up to its first line break
// (libtorch errors wrapped in other exceptions carry the backtrace after it).
std::string error_line(const std::exception& e);

}  // namespace seer::experiments
