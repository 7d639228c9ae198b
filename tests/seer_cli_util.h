// Running the built `seer` command from a test, as a user would, for the tests of what it refuses
// and how it says so: exit status, output, and the `seer: error:` lines. A crash or a signal
// shows as such instead of taking the test binary down. Needs SEER_CLI (the binary) and
// SEER_SOURCE_DIR (where it runs) from tests/CMakeLists.txt.
#pragma once

#include "catch.h"

#include <fmt/format.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace seer::test {

struct CliResult {
  int exit_code = -1;
  bool signalled = false;
  std::string output;                     // stdout and stderr, interleaved
  std::vector<std::string> error_lines;   // lines starting "seer: error:"
};

// `seer ARGS` (one shell string: the caller quotes what needs it) from the source tree, its output
// kept in dir/seer.log.
inline CliResult run_seer_command(const std::string& args, const std::filesystem::path& dir) {
  const auto log = dir / "seer.log";
  const std::string cmd = fmt::format("cd '{}' && timeout 600 '{}' {} > '{}' 2>&1",
                                      SEER_SOURCE_DIR, SEER_CLI, args, log.string());
  const int status = std::system(cmd.c_str());
  CliResult r;
  r.signalled = WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) >= 124);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(log, std::ios::binary);
  r.output.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("seer: error:", 0) == 0) r.error_lines.push_back(line);
  return r;
}

// `seer run ARGS`.
inline CliResult run_seer(const std::string& args, const std::filesystem::path& dir) {
  return run_seer_command("run " + args, dir);
}

// One error line, exit status 1, every expected piece in it.
inline void check_refused(const CliResult& r, const std::vector<std::string>& pieces) {
  INFO(r.output);
  CHECK_FALSE(r.signalled);
  CHECK(r.exit_code == 1);
  REQUIRE(r.error_lines.size() == 1);
  for (const auto& p : pieces) CHECK_THAT(r.error_lines[0], Contains(p));
}

}  // namespace seer::test
