// `seer gates inspect|export|import`: gate folders between Seer's layout and the reference
// implementation's (core/gate/gate_file.h), and what a folder holds.
#pragma once

#include <string>
#include <vector>

namespace seer::experiments {

extern const char* const kGatesHelp;

// args: what follows `seer gates`. Returns the process exit code; throws on bad input (the CLI
// prints the message).
int run_gates_command(const std::vector<std::string>& args);

}  // namespace seer::experiments
