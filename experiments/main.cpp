// seer: the command-line entry point. Everything lives in experiments/cli.cpp; this file only
// turns an exception into one line on stderr and a non-zero exit.
#include "experiments/cli.h"
#include "experiments/error_line.h"

#include <fmt/format.h>

#include <exception>

int main(int argc, char** argv) {
  try {
    return seer::experiments::run_cli(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    fmt::print(stderr, "seer: error: {}\n", seer::experiments::error_line(e));
    return 1;
  }
}
