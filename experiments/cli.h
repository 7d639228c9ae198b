// The `seer` command line: list, show, run, stages, help. main.cpp calls run_cli and prints any
// exception as one line.
#pragma once

#include <string>
#include <vector>

namespace seer::experiments {

// Returns the process exit code. Throws on errors (main prints them).
int run_cli(const std::vector<std::string>& args);

}  // namespace seer::experiments
