// seer: the command-line entry point. Everything lives in experiments/cli.cpp; this file only
// turns an exception into one line on stderr and a non-zero exit.
#include "experiments/cli.h"

#include <c10/util/Exception.h>
#include <fmt/format.h>

#include <exception>

int main(int argc, char** argv) {
  try {
    return seer::experiments::run_cli(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const c10::Error& e) {
    // libtorch errors: the message without the C++ backtrace.
    fmt::print(stderr, "seer: error: {}\n", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    // libtorch errors carry a C++ backtrace after the first line; users need only the reason.
    if (const auto nl = msg.find('\n'); nl != std::string::npos) msg = msg.substr(0, nl);
    fmt::print(stderr, "seer: error: {}\n", msg);
    return 1;
  }
}
