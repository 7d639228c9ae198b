// `seer launch --nproc N COMMAND ...`: N processes of this seer on this host, each one rank of a
// multi-process run, started with the variables torchrun sets (RANK, LOCAL_RANK, WORLD_SIZE,
// LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), so a rank cannot tell seer launch from torchrun.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace seer::experiments {

extern const char* const kLaunchHelp;

// `args` are those after "launch". Returns 0 when every rank succeeded; throws naming the rank
// that failed first and how (exit status or signal) otherwise.
int run_launch_command(const std::filesystem::path& config_dir,
                       const std::vector<std::string>& args);

}  // namespace seer::experiments
